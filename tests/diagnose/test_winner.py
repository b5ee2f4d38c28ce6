"""Is the winner real? The statistics on synthetic rows, then a real sweep over seeds."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from helpers import all_runs, client_for, run_cli

from nnexp.sweep.summary import seed_statistics
from nnexp.sweep.winner import (
    MIN_SEEDS,
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


def test_winner_is_real_only_when_the_interval_of_the_difference_excludes_zero():
    clear = {"a": {"0": 0.20, "1": 0.22, "2": 0.21}, "b": {"0": 0.30, "1": 0.31, "2": 0.33}}
    test = winner_test(rank_configurations(clear, "minimize"), "val/loss", "minimize")
    assert (test.verdict, test.paired) == (REAL, True)
    assert test.high < 0 and test.difference == pytest.approx(0.21 - 0.94 / 3)
    assert test.evidence.startswith("a (mean 0.21, 95% interval [")
    assert "beats the runner-up b (mean 0.3133" in test.evidence

    # the seed effect is shared: paired differences are all positive though the means overlap
    shared = {"a": {"0": 0.10, "1": 0.30, "2": 0.50}, "b": {"0": 0.11, "1": 0.32, "2": 0.515}}
    assert winner_test(rank_configurations(shared, "minimize"), "val/loss",
                       "minimize").verdict == REAL
    unpaired = {"a": shared["a"], "b": {"3": 0.11, "4": 0.32, "5": 0.515}}
    test = winner_test(rank_configurations(unpaired, "minimize"), "val/loss", "minimize")
    assert (test.verdict, test.paired) == (NOT_DISTINGUISHABLE, False)
    assert test.low < 0 < test.high and test.evidence.endswith("includes 0")

    few = {"a": {"0": 0.1, "1": 0.1}, "b": {"0": 0.9, "1": 0.9}}
    test = winner_test(rank_configurations(few, "minimize"), "val/loss", "minimize")
    assert test.verdict == UNDETERMINED
    assert test.evidence == f"2 seeds of a; the bootstrap needs at least {MIN_SEEDS} per " \
                            "configuration"
    accuracy = {"a": {"0": 0.9, "1": 0.92, "2": 0.91}, "b": {"0": 0.5, "1": 0.52, "2": 0.51}}
    test = winner_test(rank_configurations(accuracy, "maximize"), "val/accuracy", "maximize")
    assert test.verdict == REAL and test.low > 0


def test_seed_sweep_summary_says_the_winner_is_real(tmp_path: Path):
    proc = run_cli(["nnexp.train", "-m", "lr=0.003,1e-5", "seed=0,1,2", "train.epochs=1",
                    "model.hidden=[8]", "tracking.plots=false", "tracking.log_model=false"],
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (parent,) = [r for r in all_runs(uri) if r.data.tags.get("nnexp.sweep") == "parent"]
    tags = parent.data.tags
    assert tags["nnexp.sweep.winner"] == REAL
    assert tags["nnexp.sweep.winner.evidence"].startswith("lr=0.003 (mean ")
    assert "beats the runner-up lr=1e-05 (mean " in tags["nnexp.sweep.winner.evidence"]
    client = client_for(uri)
    path = client.download_artifacts(parent.info.run_id, "summary/seed_statistics.csv",
                                     str(tmp_path))
    with open(path) as handle:
        stats = list(csv.DictReader(handle))
    assert [(s["rank"], s["lr"], s["n_seeds"]) for s in stats] == [
        ("1", "0.003", "3"), ("2", "1e-05", "3")]
    children = [r for r in all_runs(uri) if r.data.tags.get("mlflow.parentRunId")]
    best = [c.data.metrics["val/loss"] for c in children if c.data.params["lr"] == "0.003"]
    assert float(stats[0]["val/loss mean"]) == pytest.approx(np.mean(best))
    assert float(stats[0]["val/loss ci95 low"]) <= float(stats[0]["val/loss mean"]) <= float(
        stats[0]["val/loss ci95 high"])
    report = Path(client.download_artifacts(parent.info.run_id, "summary/children.md",
                                            str(tmp_path))).read_text()
    assert "## Is the winner real?\n\nreal: lr=0.003 (mean" in report
