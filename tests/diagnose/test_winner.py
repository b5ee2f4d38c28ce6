"""Is the winner real? The statistics on synthetic rows, then a real sweep over seeds."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from helpers import all_runs, client_for, run_inprocess

from nnexp.sweeps.summary import seed_statistics
from nnexp.sweeps.winner import (
    MIN_SEEDS,
    MIN_UNPAIRED_SEEDS,
    NOT_DISTINGUISHABLE,
    REAL,
    RESAMPLES,
    UNDETERMINED,
    rank_configurations,
    winner_test,
)


def _rows(values: dict[str, list[float]], seeds: dict[str, list[int]] | None = None):
    return [{"status": "FINISHED", "lr": lr, "seed": str(seed), "val/loss": v}
            for lr, vs in values.items()
            for seed, v in zip((seeds or {}).get(lr, range(len(vs))), vs, strict=True)]


def test_configurations_are_ranked_by_mean_with_a_seeded_bootstrap_interval():
    rows = _rows({"0.1": [0.30, 0.34, 0.32, 0.36], "0.01": [0.20, 0.25, 0.22, 0.21],
                  "1": [0.9]})
    rows.append({"status": "FAILED", "lr": "1", "seed": "1", "val/loss": 0.1})  # not counted
    stats = seed_statistics(rows, ["lr", "seed"], "val/loss", "minimize")
    assert [(s["rank"], s["lr"], s["n_seeds"]) for s in stats] == [
        (1, "0.01", 4), (2, "0.1", 4), (3, "1", 1)]
    best = stats[0]
    assert best["val/loss mean"] == pytest.approx(0.22)
    assert best["val/loss std"] == pytest.approx(np.std([0.20, 0.25, 0.22, 0.21], ddof=1))
    assert 0.20 <= best["val/loss ci95 low"] < 0.22 < best["val/loss ci95 high"] <= 0.25
    # the interval is the percentile bootstrap of the mean, and the same rows give the same one
    values = np.array([0.20, 0.25, 0.22, 0.21])
    means = values[np.random.default_rng(1).integers(0, 4, (RESAMPLES, 4))].mean(axis=1)
    assert best["val/loss ci95 low"] == pytest.approx(np.percentile(means, 2.5), abs=0.005)
    assert seed_statistics(rows, ["lr", "seed"], "val/loss", "minimize") == stats
    assert np.isnan(stats[2]["val/loss ci95 low"])  # one seed: no interval
    maximize = seed_statistics(rows, ["lr", "seed"], "val/loss", "maximize")
    assert [s["lr"] for s in maximize] == ["1", "0.1", "0.01"]


def _test(groups: dict[str, dict[str, float]], direction: str = "minimize"):
    return winner_test(rank_configurations(groups, direction), "val/loss", direction)


def _seeds(*values: float) -> dict[str, float]:
    return {str(seed): v for seed, v in enumerate(values)}


def test_winner_is_real_only_when_an_exact_permutation_test_says_so():
    # 6 paired seeds, one configuration better on every seed: the smallest p of the exact
    # sign-flip test, 2/2^6 = 0.03125 <= 0.05
    clear = {"a": _seeds(0.20, 0.22, 0.21, 0.23, 0.19, 0.20),
             "b": _seeds(0.30, 0.31, 0.33, 0.32, 0.29, 0.31)}
    test = _test(clear)
    assert (test.verdict, test.paired, test.p) == (REAL, True, pytest.approx(2 / 2 ** 6))
    assert test.high < 0 and test.difference == pytest.approx((1.25 - 1.86) / 6)
    assert test.evidence.startswith("a (mean 0.2083, 95% interval [")
    assert "beats the runner-up b (mean 0.31" in test.evidence
    assert test.evidence.endswith("(6 paired seeds); exact paired sign-flip test, p = 0.0312 "
                                  "<= 0.05")
    assert _test(clear) == test  # the same runs, the same text

    # the seed effect is shared: paired differences are all negative though the means overlap
    shared = {"a": _seeds(0.10, 0.30, 0.50, 0.20, 0.40, 0.60),
              "b": _seeds(0.11, 0.32, 0.515, 0.21, 0.42, 0.61)}
    assert _test(shared).verdict == REAL
    unpaired = {"a": shared["a"],
                "b": {str(s + 6): v for s, v in enumerate(shared["b"].values())}}
    test = _test(unpaired)
    assert (test.verdict, test.paired) == (NOT_DISTINGUISHABLE, False)
    assert test.low < 0 < test.high and test.p > 0.5
    assert "exact two-sample permutation test, p = " in test.evidence
    assert test.evidence.endswith("> 0.05")
    # one seed goes the other way: 4 of the 64 sign flips lead by at least as much, each way
    mixed = {"a": shared["a"], "b": {**shared["b"], "5": 0.59}}
    test = _test(mixed)
    assert (test.verdict, test.p) == (NOT_DISTINGUISHABLE, pytest.approx(8 / 64))

    accuracy = {"a": _seeds(0.9, 0.92, 0.91, 0.93, 0.9, 0.94),
                "b": _seeds(0.5, 0.52, 0.51, 0.5, 0.53, 0.5)}
    test = _test(accuracy, "maximize")
    assert test.verdict == REAL and test.low > 0 and test.difference > 0


def test_too_few_seeds_to_ever_be_significant_are_undetermined():
    assert (MIN_SEEDS, MIN_UNPAIRED_SEEDS) == (6, 4)  # 2/2^5 = 0.0625 > 0.05; 2/C(6,3) = 0.1
    # 3 seeds, one configuration better on all three: the former bootstrap said real; the
    # exact sign-flip test's p cannot go below 2/2^3 = 0.25
    three = {"a": _seeds(0.20, 0.22, 0.21), "b": _seeds(0.30, 0.31, 0.33)}
    test = _test(three)
    assert test.verdict == UNDETERMINED and test.paired
    assert test.evidence.startswith("needs at least 6 seeds: with 3 paired seeds the exact "
                                    "paired sign-flip test's smallest p is 0.25 > 0.05; a (mean")
    assert test.low < test.difference < test.high < 0  # the bootstrap interval, for display
    for n in (1, 2, 4, 5):
        few = {"a": _seeds(*[0.1] * n), "b": _seeds(*[0.9] * n)}
        assert _test(few).evidence.startswith("needs at least 6 seeds: with ")
    unpaired = {"a": _seeds(0.20, 0.22, 0.21), "b": {"3": 0.30, "4": 0.31, "5": 0.33}}
    assert _test(unpaired).evidence.startswith(
        "needs at least 4 seeds per configuration (or 6 seeds run by both): with 3 and 3 "
        "unpaired seeds the exact permutation test's smallest p is 0.1 > 0.05")
    unpaired["b"]["6"] = 0.32  # 3 and 4: 2/C(7, 3) = 0.057, still not
    assert _test(unpaired).verdict == UNDETERMINED
    unpaired["b"]["7"] = 0.31  # 3 and 5: 2/C(8, 3) = 0.036
    assert _test(unpaired).verdict == REAL
    assert _test({"a": _seeds(0.1)}).evidence == "one configuration: nothing to compare"


def test_a_difference_within_the_objectives_resolution_is_never_real():
    # -m seed=0,1,2 lr=0.1,0.1000001: the recorded val/loss of the two learning rates
    tiny = {"lr=0.1": _seeds(0.17800075672741011, 0.11538208461854046, 0.08586419494458082),
            "lr=0.1000001": _seeds(0.17800079387395035, 0.11538208480516168,
                                   0.0858641930071899)}
    test = _test(tiny)
    assert test.verdict == NOT_DISTINGUISHABLE
    assert "val/loss difference -1.18e-08 is within the objective's resolution" in test.evidence
    # however many seeds, however consistent the sign: 3e-8 on a loss of 0.1 is rounding
    rng = np.random.default_rng(0)
    losses = 0.1 + rng.normal(0, 0.03, 12)
    test = _test({"a": _seeds(*losses), "b": _seeds(*(losses + 3e-8))})
    assert test.verdict == NOT_DISTINGUISHABLE and "resolution" in test.evidence
    # the floor scales with the objective: a 3e-8 lead on a spread of 1e-6 is real
    tight = 1e-3 + rng.normal(0, 1e-6, 12)
    assert _test({"a": _seeds(*tight), "b": _seeds(*(tight + 3e-8))}).verdict == REAL


def _sweep(rng: np.random.Generator, k: int, seeds: int, effect: float
           ) -> dict[str, dict[str, float]]:
    """A synthetic sweep: a per-seed effect every configuration shares (a seed fixes the data
    split and the initialisation), independent noise of sd 0.02 per run, and configuration c0
    better by `effect` noise sds."""
    values = 0.3 + rng.normal(0, 0.05, seeds) + rng.normal(0, 0.02, (k, seeds))
    values[0] -= effect * 0.02
    return {f"c{c}": _seeds(*values[c]) for c in range(k)}


def _real_rate(k: int, seeds: int, effect: float, reps: int) -> tuple[float, set[str]]:
    rng = np.random.default_rng([k, seeds, int(effect * 10)])
    real, verdicts = 0, set()
    for _ in range(reps):
        ranked = rank_configurations(_sweep(rng, k, seeds, effect), "minimize")
        test = winner_test(ranked, "loss", "minimize")
        verdicts.add(test.verdict)
        real += test.verdict == REAL and (effect == 0 or ranked[0].name == "c0")
    return real / reps, verdicts


def test_the_winner_test_is_calibrated_on_simulated_sweeps():
    """No difference: false real <= 5 % (k = 2 and the post-selection k = 4) at 3, 5 and 10
    seeds; real differences: the power is printed (benchmarks/winner_calibration.py prints the
    full table with more repetitions)."""
    rows = []
    for seeds, reps in ((3, 50), (5, 50), (10, 200)):
        for k in (2, 4):
            rate, verdicts = _real_rate(k, seeds, 0.0, reps)
            rows.append((0.0, seeds, k, reps, rate))
            # a rate of 5 % observed over `reps` sweeps: 3 binomial standard errors of margin
            assert rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / reps), rows[-1]
            if seeds < MIN_SEEDS:
                assert verdicts <= {UNDETERMINED, NOT_DISTINGUISHABLE}, rows[-1]
    for effect, least in ((1.0, 0.3), (2.0, 0.8)):
        rate, _ = _real_rate(2, 10, effect, 60)
        rows.append((effect, 10, 2, 60, rate))
        assert rate > least, rows[-1]
    print("\neffect (noise sd)  seeds  k  sweeps  real (false at effect 0, else power)")
    for effect, seeds, k, reps, rate in rows:
        print(f"{effect:17.1f}  {seeds:5d}  {k}  {reps:6d}  {rate:6.1%}")


def test_seed_sweep_summary_says_the_winner_is_real(tmp_path: Path):
    # 6 seeds: the fewest with which the exact paired sign-flip test can reach p <= 0.05
    proc = run_inprocess(["nnexp.train", "-m", "lr=0.003,1e-5", "seed=0,1,2,3,4,5",
                          "train.epochs=1", "model.hidden=[8]", "tracking.plots=false",
                          "tracking.log_model=false"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (parent,) = [r for r in all_runs(uri) if r.data.tags.get("nnexp.sweep") == "parent"]
    tags = parent.data.tags
    assert tags["nnexp.sweep.winner"] == REAL
    assert tags["nnexp.sweep.winner.evidence"].startswith("lr=0.003 (mean ")
    assert "beats the runner-up lr=1e-05 (mean " in tags["nnexp.sweep.winner.evidence"]
    assert tags["nnexp.sweep.winner.evidence"].endswith(
        "(6 paired seeds); exact paired sign-flip test, p = 0.0312 <= 0.05")
    client = client_for(uri)
    path = client.download_artifacts(parent.info.run_id, "summary/seed_statistics.csv",
                                     str(tmp_path))
    with open(path) as handle:
        stats = list(csv.DictReader(handle))
    assert [(s["rank"], s["lr"], s["n_seeds"]) for s in stats] == [
        ("1", "0.003", "6"), ("2", "1e-05", "6")]
    children = [r for r in all_runs(uri) if r.data.tags.get("mlflow.parentRunId")]
    best = [c.data.metrics["val/loss"] for c in children if c.data.params["lr"] == "0.003"]
    assert float(stats[0]["val/loss mean"]) == pytest.approx(np.mean(best))
    assert float(stats[0]["val/loss ci95 low"]) <= float(stats[0]["val/loss mean"]) <= float(
        stats[0]["val/loss ci95 high"])
    report = Path(client.download_artifacts(parent.info.run_id, "summary/children.md",
                                            str(tmp_path))).read_text()
    assert "## Is the winner real?\n\nreal: lr=0.003 (mean" in report
