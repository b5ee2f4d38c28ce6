"""Is the winner real? Configurations of a sweep ranked by their mean objective across seeds,
each with a bootstrap interval, and whether the best beats the runner-up beyond seed noise.

The interval of a mean is the percentile bootstrap (resampling a configuration's seeds with
replacement): for display only, it is too narrow at a handful of seeds to decide anything. The
verdict is an exact permutation test (`scipy.stats.permutation_test`) of the best against the
runner-up, two-sided at ALPHA = 0.05 (the direction is chosen by the ranking, so a one-sided test
at 0.05 would be wrong twice as often): paired by seed when both configurations ran the same seeds
(a seed fixes the data split and the initialisation; flipping the sign of each seed's difference
is exact under "no difference" whatever the noise's shape), else a permutation of the runs
between the two. An exact test has a smallest attainable p: with 3 paired seeds it is 2/2^3 =
0.25, so below MIN_SEEDS paired seeds (6) the verdict is `undetermined: needs at least N seeds`
instead of a guess. Testing the best against the runner-up after ranking k configurations is a
post-selection comparison; the simulation (benchmarks/winner_calibration.py) shows it is not
inflated by the selection: about 5 % false `real` for k = 2 and under 2 % for k = 4 and 8 (the
two best of many are close). A difference within the objective's resolution (RESOLUTION of its
magnitude: the engine computes in float32) or a negligible fraction of its seed-to-seed spread is
never real, however consistent its sign. Bootstrap and permutations are seeded: the same runs
give the same text.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95  # of the bootstrap intervals shown
RESAMPLES = 10_000  # bootstrap resamples, and random permutations beyond the exact limits
SEED = 0
ALPHA = 0.05  # the winner test's level (two-sided)
EXACT_PERMUTATIONS = RESAMPLES  # the permutation test enumerates up to as many as it would draw
RESOLUTION = 1e-6  # of the objective's magnitude: float32 rounding (eps 1.2e-7) is below it
NEGLIGIBLE = 1e-3  # of the seed-to-seed standard deviation: no seed count makes it matter
REAL, NOT_DISTINGUISHABLE, UNDETERMINED = "real", "not_distinguishable", "undetermined"


@dataclass(frozen=True)
class RankedConfig:
    """One configuration's objective across seeds: mean, spread and bootstrap interval."""

    name: str  # its swept values other than the seed, e.g. "lr=0.01"
    values: dict[str, float]  # seed -> objective
    rank: int
    mean: float
    std: float
    low: float  # the interval of the mean (nan for one seed)
    high: float

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class WinnerTest:
    """The best configuration against the runner-up: the verdict and the sentence saying why."""

    verdict: str  # REAL, NOT_DISTINGUISHABLE or UNDETERMINED
    evidence: str
    difference: float = math.nan  # best mean - runner-up mean
    low: float = math.nan
    high: float = math.nan
    paired: bool = False
    p: float = math.nan  # two-sided p of the permutation test (nan when it did not run)


def _interval(samples: np.ndarray) -> tuple[float, float]:
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def _resampled_means(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RESAMPLES bootstrap means of `values`."""
    picks = rng.integers(0, values.size, size=(RESAMPLES, values.size))
    return values[picks].mean(axis=1)


def rank_configurations(groups: dict[str, dict[str, float]], direction: str
                        ) -> list[RankedConfig]:
    """Configurations (name -> {seed: objective}) best first by mean, each with its interval."""
    stats = []
    for name in sorted(groups):
        values = np.array(list(groups[name].values()), np.float64)
        rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])  # its own, stable stream
        low, high = _interval(_resampled_means(values, rng)) if values.size > 1 else (
            math.nan, math.nan)
        std = float(values.std(ddof=1)) if values.size > 1 else 0.0
        stats.append((name, float(values.mean()), std, low, high))
    sign = 1.0 if direction == "minimize" else -1.0
    stats.sort(key=lambda s: (sign * s[1], s[0]))
    return [RankedConfig(name, dict(groups[name]), rank, mean, std, low, high)
            for rank, (name, mean, std, low, high) in enumerate(stats, start=1)]


def _smallest_p(n: int, m: int | None = None) -> float:
    """The smallest two-sided p an exact permutation test can give: n paired seeds (m None, 2^n
    sign flips) or n and m unpaired runs (C(n+m, n) splits)."""
    arrangements = 2 ** n if m is None else math.comb(n + m, n)
    return min(1.0, 2 / arrangements)


def _seeds_needed(paired: bool) -> int:
    """The fewest seeds (per configuration) with which the test can reach p <= ALPHA."""
    n = 1
    while _smallest_p(n, None if paired else n) > ALPHA:
        n += 1
    return n


MIN_SEEDS = _seeds_needed(paired=True)  # 6: 2/2^6 = 0.031 <= 0.05, 2/2^5 = 0.0625 is not
MIN_UNPAIRED_SEEDS = _seeds_needed(paired=False)  # 4 each: 2/C(8, 4) = 0.029


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def permutation_p(first: np.ndarray, second: np.ndarray, paired: bool) -> tuple[float, str]:
    """Two-sided p of "no difference" between two configurations' objectives, and the test's
    name: the exact paired sign-flip test (first[i], second[i] from the same seed) or the exact
    two-sample permutation test; random (seeded) arrangements beyond EXACT_PERMUTATIONS."""
    if paired:
        data, statistic, arrangements = (first - second,), _mean, 2 ** first.size
        name = "paired sign-flip test"
    else:
        data, statistic = (first, second), _mean_difference
        arrangements = math.comb(first.size + second.size, first.size)
        name = "two-sample permutation test"
    exact = arrangements <= EXACT_PERMUTATIONS
    result = stats.permutation_test(
        data, statistic, permutation_type="samples" if paired else "independent",
        vectorized=True, alternative="two-sided",
        n_resamples=np.inf if exact else RESAMPLES - 1, rng=np.random.default_rng(SEED))
    how = f"exact {name}" if exact else f"{name}, {RESAMPLES - 1} random arrangements, seed {SEED}"
    return float(min(1.0, result.pvalue)), how


def _describe(config: RankedConfig) -> str:
    return (f"{config.name} (mean {config.mean:.4g}, {LEVEL:.0%} interval "
            f"[{config.low:.4g}, {config.high:.4g}], {config.n} seeds)")


def resolution_floor(best: RankedConfig, runner_up: RankedConfig) -> float:
    """The smallest difference that can be real: RESOLUTION of the objective's magnitude (float
    rounding, e.g. lr=0.1 against 0.1000001) or NEGLIGIBLE of its seed-to-seed spread."""
    scale = max(abs(best.mean), abs(runner_up.mean))
    spread = math.sqrt((best.std ** 2 + runner_up.std ** 2) / 2)
    return max(RESOLUTION * scale, NEGLIGIBLE * spread)


def winner_test(ranked: list[RankedConfig], objective: str, direction: str) -> WinnerTest:
    """Whether the first of `ranked` beats the second beyond seed noise: an exact permutation
    test at ALPHA (see the module's docstring), with a bootstrap interval of the difference for
    display."""
    if len(ranked) < 2:
        return WinnerTest(UNDETERMINED, "one configuration: nothing to compare")
    best, runner_up = ranked[0], ranked[1]
    paired = set(best.values) == set(runner_up.values)
    difference = best.mean - runner_up.mean
    vs = f"{_describe(best)} against the runner-up {_describe(runner_up)}"
    floor = resolution_floor(best, runner_up)
    if abs(difference) <= floor:
        return WinnerTest(NOT_DISTINGUISHABLE,
                          f"{vs}: {objective} difference {difference:.4g} is within the "
                          f"objective's resolution {floor:.3g} (max of {RESOLUTION:g} of its "
                          f"magnitude and {NEGLIGIBLE:g} of its seed-to-seed std); no seed count "
                          "makes it real", difference, paired=paired)
    first = np.array([best.values[s] for s in sorted(best.values)], np.float64)
    second = np.array([runner_up.values[s] for s in sorted(runner_up.values)], np.float64)
    rng = np.random.default_rng(SEED)
    if paired:
        samples = _resampled_means(first - second, rng)
        needed, smallest, how = MIN_SEEDS, _smallest_p(best.n), f"{best.n} paired seeds"
    else:
        samples = _resampled_means(first, rng) - _resampled_means(second, rng)
        needed, smallest = MIN_UNPAIRED_SEEDS, _smallest_p(best.n, runner_up.n)
        how = f"{best.n} and {runner_up.n} unpaired seeds"
    low, high = _interval(samples) if min(best.n, runner_up.n) > 1 else (math.nan, math.nan)
    shown = (f"{objective} difference {difference:.4g}, {LEVEL:.0%} bootstrap interval "
             f"[{low:.4g}, {high:.4g}] ({how})")
    if smallest > ALPHA:
        each = "" if paired else f" per configuration (or {MIN_SEEDS} seeds run by both)"
        return WinnerTest(UNDETERMINED,
                          f"needs at least {needed} seeds{each}: with {how} the exact "
                          f"{'paired sign-flip' if paired else 'permutation'} test's smallest p "
                          f"is {smallest:.3g} > {ALPHA:g}; {vs}: {shown}", difference, low, high,
                          paired)
    p, test = permutation_p(first, second, paired)
    numbers = f"{shown}; {test}, p = {p:.3g}"
    if p <= ALPHA:
        return WinnerTest(REAL, f"{_describe(best)} beats the runner-up {_describe(runner_up)}: "
                                f"{numbers} <= {ALPHA:g}", difference, low, high, paired, p)
    return WinnerTest(NOT_DISTINGUISHABLE,
                      f"{_describe(best)} does not beat the runner-up {_describe(runner_up)} "
                      f"beyond seed noise: {numbers} > {ALPHA:g}", difference, low, high, paired,
                      p)
