"""Calibration of the sweep's winner test (`nnexp.sweep.winner`): how often it says `real`.

Synthetic sweeps like real ones: configuration c on seed s scores
    objective = BASE + seed effect[s] (shared by every configuration: a seed fixes the data split
                and the initialisation; pairing by seed removes it)
              + noise[c, s] (independent, standard deviation NOISE_SD)
              - effect * NOISE_SD for configuration 0 only (lower is better).
Effect 0 is the null (no configuration is better): every `real` is false. With effect > 0,
power is the share of sweeps where the test says `real` and names configuration 0; `wrong` is
`real` naming another one. Each sweep is ranked by `rank_configurations` and judged by
`winner_test`, exactly as a sweep's summary does.

For comparison, on the same sweeps: a paired t-test of best against runner-up
(`scipy.stats.ttest_rel`, two-sided 0.05) and the rule the winner test had before (a paired
percentile bootstrap interval of the difference excluding 0: 22 % false `real` at 3 seeds).

Run: python benchmarks/winner_calibration.py   (150 sweeps per row, under a minute on a quiet
2-core machine); the full table: --reps 1000 --seeds 3 5 6 10 --k 2 4 8 --effects 0 0.5 1 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from nnexp.sweeps.winner import REAL, UNDETERMINED, rank_configurations, winner_test

BASE, SEED_SD, NOISE_SD = 0.3, 0.05, 0.02


def sweep(rng: np.random.Generator, k: int, seeds: int, effect: float
          ) -> dict[str, dict[str, float]]:
    """One synthetic sweep: configuration name -> {seed: objective}."""
    values = BASE + rng.normal(0, SEED_SD, seeds) + rng.normal(0, NOISE_SD, (k, seeds))
    values[0] -= effect * NOISE_SD
    return {f"c{c}": {str(s): float(values[c, s]) for s in range(seeds)} for c in range(k)}


def old_bootstrap_real(diffs: np.ndarray, rng: np.random.Generator) -> bool:
    """The former rule: the 95 % percentile bootstrap interval of the mean paired difference
    excludes 0."""
    means = diffs[rng.integers(0, diffs.size, (10_000, diffs.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return bool(high < 0 or low > 0)


def simulate(k: int, seeds: int, effect: float, reps: int, seed: int = 0) -> dict[str, float]:
    """Shares of `reps` sweeps: real (right winner), real naming a wrong one, undetermined, and
    the comparison rules' real."""
    rng = np.random.default_rng([seed, k, seeds, int(effect * 1000)])
    counts = dict.fromkeys(("real", "wrong", "undetermined", "ttest", "bootstrap"), 0)
    for _ in range(reps):
        groups = sweep(rng, k, seeds, effect)
        ranked = rank_configurations(groups, "minimize")
        test = winner_test(ranked, "loss", "minimize")
        right = effect == 0 or ranked[0].name == "c0"  # under the null every real is false
        counts["real" if right else "wrong"] += test.verdict == REAL
        counts["undetermined"] += test.verdict == UNDETERMINED
        best, runner_up = (np.array([r.values[str(s)] for s in range(seeds)]) for r in ranked[:2])
        counts["ttest"] += bool(stats.ttest_rel(best, runner_up).pvalue <= 0.05)
        counts["bootstrap"] += old_bootstrap_real(best - runner_up, rng)
    return {key: count / reps for key, count in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=150, help="sweeps per setting")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 10])
    parser.add_argument("--k", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--effects", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"winner test: {args.reps} synthetic sweeps per row; seed sd {SEED_SD}, noise sd "
          f"{NOISE_SD}; effect in noise sd (0 = no difference: every real is false)")
    print(f"{'effect':>6} {'seeds':>5} {'k':>3} {'real %':>7} {'wrong %':>7} {'undet %':>7}"
          f" | {'t-test %':>8} {'old bootstrap %':>15}")
    for effect in args.effects:
        for seeds in args.seeds:
            for k in args.k:
                r = simulate(k, seeds, effect, args.reps)
                print(f"{effect:6.1f} {seeds:5d} {k:3d} {100 * r['real']:7.1f} "
                      f"{100 * r['wrong']:7.1f} {100 * r['undetermined']:7.1f} | "
                      f"{100 * r['ttest']:8.1f} {100 * r['bootstrap']:15.1f}", flush=True)
    print(f"({time.perf_counter() - start:.0f} s; real % at effect 0 is the false-real rate, "
          "above 0 the power)")


if __name__ == "__main__":
    main()
