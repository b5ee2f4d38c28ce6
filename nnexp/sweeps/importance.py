"""What mattered in a sweep: each swept key's share of the objective's variance, with an interval.

Grid sweeps (every key takes a few values, each shared by several children) get a variance-
components decomposition (functional ANOVA over the grid's cells, like fANOVA's but on the cells
themselves rather than on a random forest fitted to them): a key's main effect is the variance of
its levels' marginal means, an interaction the variance of a pair's two-way means less both main
effects, the seed noise the pooled variance within configurations. Each is corrected by the
noise the cell means still carry, so the estimates are unbiased and an irrelevant key's is
negative about as often as positive: its interval can include 0. The interval resamples each
configuration's children (its seeds) with replacement; the basic bootstrap (2 x estimate -
percentile) undoes the bootstrap's own bias. Random-forest importances (fANOVA, scikit-learn's
permutation importance) are non-negative by construction, so their interval for an irrelevant
key can never include 0; sweeps that are no grid (Optuna samples each value once) use Optuna's
fANOVA evaluator over the children instead, resampled the same way (`importance_forest`).
Seeded: the same children give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from nnexp.sweeps.configurations import SEED_KEY, TRAINED, comparable

LEVEL = 0.95
RESAMPLES = 1000
SEED = 0
NOISE = "seed noise"


@dataclass(frozen=True)
class Share:
    """One source of the objective's variance: its share (0..1 of the total, can be < 0 when
    estimated unbiased) and the bootstrap interval of that share."""

    name: str  # a swept key, `a x b` for an interaction, or NOISE
    share: float
    low: float
    high: float
    keys: tuple[str, ...] = ()

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass
class Importance:
    """What mattered: main effects (largest first), interactions, seed noise, how it was got."""

    method: str  # "variance components" or "fANOVA (optuna)"
    main: list[Share]
    interactions: list[Share] = field(default_factory=list)
    noise: Share | None = None
    n_children: int = 0
    note: str = ""
    noise_variance: float = math.nan  # of one child's objective between seeds


@dataclass
class Table:
    """The usable children as numbers: each child's configuration (cell) and level per key."""

    keys: list[str]
    y: np.ndarray  # objective per child
    cell: np.ndarray  # configuration index per child
    levels: np.ndarray  # (n_cells, n_keys) level index of each configuration
    names: list[list[Any]]  # per key, its levels' values in order

    @property
    def n_cells(self) -> int:
        return int(self.levels.shape[0])


def build_table(children: list[dict[str, Any]], keys: list[str], objective: str) -> Table:
    """Children (dicts with each key's value and the objective) as a Table; the seed is no key."""
    others = [k for k in keys if k != SEED_KEY]
    values = [[comparable(c.get(TRAINED, {}).get(k, c.get(k, ""))) for k in others]
              for c in children]
    names = [sorted({v[j] for v in values}, key=level_order) for j in range(len(others))]
    index = [{name: i for i, name in enumerate(level)} for level in names]
    cells: dict[tuple[int, ...], int] = {}
    cell = [cells.setdefault(tuple(index[j][v[j]] for j in range(len(others))), len(cells))
            for v in values]
    levels = np.array(list(cells), dtype=np.int64).reshape(len(cells), len(others))
    y = np.array([float(c[objective]) for c in children], np.float64)
    return Table(others, y, np.array(cell, np.int64), levels, names)


def level_order(value: Any) -> tuple[int, Any]:
    """How a key's values sort: numbers, then lists item by item, then text."""
    if isinstance(value, float):
        return (0, value)
    if isinstance(value, tuple):
        return (1, tuple(v if isinstance(v, float) else math.inf for v in value), str(value))
    return (2, str(value))


def is_grid(table: Table) -> bool:
    """Whether every key's values repeat: each level holds two or more children on average."""
    n = table.y.size
    return n >= 4 and all(len(level) * 2 <= n for level in table.names)


def _onehot(groups: np.ndarray) -> np.ndarray:
    """(n, n_groups) membership matrix of the present groups."""
    present, index = np.unique(groups, return_inverse=True)
    return np.eye(present.size)[index]


def _components(table: Table, y: np.ndarray, pairs: list[tuple[int, int]]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row of `y` (resamples x children): the unbiased variance components over the
    table's cells, as (main effects per key then interactions per pair, noise variance, total
    variance of one child's objective)."""
    cells = _onehot(table.cell)  # children x cells
    counts = cells.sum(axis=0)
    means = y @ cells / counts
    df = y.shape[1] - table.n_cells
    resid = y - means @ cells.T
    noise = (resid ** 2).sum(axis=1) / df if df > 0 else np.zeros(y.shape[0])

    def corrected(groups: np.ndarray) -> np.ndarray:
        member = _onehot(groups)  # cells x levels
        size = member.sum(axis=0)
        k = size.size
        if k < 2:
            return np.zeros(y.shape[0])
        level_means = means @ member / size
        carried = float(((1 / counts) @ member / size ** 2).sum())  # x noise: what means carry
        return level_means.var(axis=1) - (k - 1) / k ** 2 * carried * noise

    main = [corrected(table.levels[:, j]) for j in range(len(table.keys))]
    inter = [corrected(table.levels[:, a] * (int(table.levels[:, b].max()) + 1)
                       + table.levels[:, b]) - main[a] - main[b] for a, b in pairs]
    total = corrected(np.arange(table.n_cells)) + noise
    return np.stack(main + inter, axis=1), noise, total


def _truth(table: Table, means: np.ndarray, noise: float, pairs: list[tuple[int, int]]
           ) -> np.ndarray:
    """The shares the resampled sweeps are drawn from: cell means `means`, noise `noise`."""
    exact = Table(table.keys, means, np.arange(table.n_cells), table.levels, table.names)
    effects, _, total = _components(exact, means[None, :], pairs)
    return np.append(effects[0], noise) / (total[0] + noise)


def _pairs(table: Table) -> list[tuple[int, int]]:
    """Pairs of keys whose every combination of values ran (the grid allows an interaction)."""
    found = []
    for a, b in combinations(range(len(table.keys)), 2):
        wanted = len(table.names[a]) * len(table.names[b])
        seen = {(int(x), int(z)) for x, z in table.levels[:, [a, b]]}
        if min(len(table.names[a]), len(table.names[b])) > 1 and len(seen) == wanted:
            found.append((a, b))
    return found


def _residual_draws(table: Table, rng: np.random.Generator, resamples: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(cell means, resamples x children objectives): each child's configuration mean plus a
    child's deviation from its own configuration's mean drawn from all of them (rescaled by
    sqrt(n / (n - 1)) so they spread as the seeds do)."""
    cells = _onehot(table.cell)
    counts = cells.sum(axis=0)
    means = table.y @ cells / counts
    resid = table.y - means[table.cell]
    scale = np.sqrt(counts / np.maximum(counts - 1, 1))[table.cell]
    pool = (resid * scale)[counts[table.cell] > 1]
    draws = pool[rng.integers(0, pool.size, (resamples, table.y.size))]
    return means, means[table.cell][None, :] + draws


def variance_components(table: Table, resamples: int = RESAMPLES, seed: int = SEED
                        ) -> Importance:
    """Shares of the objective's variance per key, pair and seed noise, with basic-bootstrap
    intervals from resampling the seeds' deviations (see the module docstring)."""
    pairs = _pairs(table)
    effects, noise, total = _components(table, table.y[None, :], pairs)
    point = np.append(effects[0], noise[0]) / total[0] if total[0] > 0 \
        else np.zeros(effects.shape[1] + 1)
    replicated = table.y.size > table.n_cells
    if replicated:
        means, draws = _residual_draws(table, np.random.default_rng(seed), resamples)
        e, s, t = _components(table, draws, pairs)
        with np.errstate(invalid="ignore", divide="ignore"):
            samples = np.column_stack([e, s]) / t[:, None]
        truth = _truth(table, means, float(noise[0]), pairs)
        tail = (1 - LEVEL) / 2 * 100
        low_q, high_q = np.nanpercentile(samples, [tail, 100 - tail], axis=0)
        low, high = point - (high_q - truth), point - (low_q - truth)
    else:
        low = high = np.full(point.size, np.nan)
    names = [*table.keys, *(f"{table.keys[a]} x {table.keys[b]}" for a, b in pairs)]
    keys = [(k,) for k in table.keys] + [(table.keys[a], table.keys[b]) for a, b in pairs]
    shares = [Share(n, float(point[i]), float(low[i]), float(high[i]), keys[i])
              for i, n in enumerate(names)]
    main = sorted(shares[:len(table.keys)], key=lambda s: -s.share)
    noise_share = Share(NOISE, float(point[-1]), float(low[-1]), float(high[-1])) \
        if replicated else None
    note = "" if replicated else ("no configuration ran twice: the seed noise is unknown and "
                                  "no interval can be drawn; shares include it")
    return Importance("variance components", main, shares[len(table.keys):], noise_share,
                      int(table.y.size), note, float(noise[0]) if replicated else math.nan)
