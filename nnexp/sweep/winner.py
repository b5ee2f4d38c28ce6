"""Is the winner real? Configurations of a sweep ranked by their mean objective across seeds,
each with a bootstrap interval, and whether the best beats the runner-up beyond seed noise.

The interval of a mean is the percentile bootstrap (resampling a configuration's seeds with
replacement). The winner test bootstraps the difference of the two means: paired by seed when
both configurations ran the same seeds (a seed fixes the data split and the initialisation, so
pairing removes that shared noise), else each resampled on its own. The winner is real when the
interval of the difference excludes 0. The resampling is seeded: the same runs give the same
numbers. With fewer than MIN_SEEDS seeds the bootstrap cannot say anything useful, so it does
not try; even at a handful of seeds its intervals are narrower than the truth.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
RESAMPLES = 10_000
SEED = 0
MIN_SEEDS = 3
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


def _describe(config: RankedConfig) -> str:
    return (f"{config.name} (mean {config.mean:.4g}, {LEVEL:.0%} interval "
            f"[{config.low:.4g}, {config.high:.4g}], {config.n} seeds)")


def winner_test(ranked: list[RankedConfig], objective: str, direction: str) -> WinnerTest:
    """Whether the first of `ranked` beats the second beyond seed noise."""
    if len(ranked) < 2:
        return WinnerTest(UNDETERMINED, "one configuration: nothing to compare")
    best, runner_up = ranked[0], ranked[1]
    fewest = min(best.n, runner_up.n)
    if fewest < MIN_SEEDS:
        return WinnerTest(UNDETERMINED, f"{fewest} seed{'s' if fewest > 1 else ''} of "
                                        f"{best.name if best.n == fewest else runner_up.name}; "
                                        f"the bootstrap needs at least {MIN_SEEDS} per "
                                        "configuration")
    rng = np.random.default_rng(SEED)
    paired = set(best.values) == set(runner_up.values)
    if paired:
        seeds = sorted(best.values)
        diffs = np.array([best.values[s] - runner_up.values[s] for s in seeds])
        samples = _resampled_means(diffs, rng)
    else:
        samples = (_resampled_means(np.array(list(best.values.values())), rng)
                   - _resampled_means(np.array(list(runner_up.values.values())), rng))
    low, high = _interval(samples)
    difference = best.mean - runner_up.mean
    beats = high < 0 if direction == "minimize" else low > 0
    how = (f"paired by seed over {len(best.values)} seeds" if paired
           else f"unpaired, {best.n} and {runner_up.n} seeds")
    numbers = (f"{objective} difference {difference:.4g}, {LEVEL:.0%} interval [{low:.4g}, "
               f"{high:.4g}] ({how}; bootstrap of {RESAMPLES} resamples, seed {SEED})")
    if beats:
        return WinnerTest(REAL, f"{_describe(best)} beats the runner-up {_describe(runner_up)}: "
                                f"{numbers}", difference, low, high, paired)
    return WinnerTest(NOT_DISTINGUISHABLE,
                      f"{_describe(best)} does not beat the runner-up {_describe(runner_up)} "
                      f"beyond seed noise: {numbers} includes 0", difference, low, high, paired)
