"""Which runs are one configuration: the values they trained with, compared as numbers, not
Hydra's override text; duplicate jobs counted once and named (issue 22, point 5)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from helpers import all_runs, client_for, run_inprocess

from nnexp.sweeps.configurations import TRAINED, configurations, duplicate_jobs
from nnexp.sweeps.summary import seed_groups, seed_statistics
from nnexp.sweeps.winner import rank_configurations, winner_test

KEYS = ["lr", "seed"]


def _row(lr: str, seed: int, loss: float, trained: str | None = None) -> dict:
    row = {"status": "FINISHED", "run_id": f"{lr}-{seed}-{trained}", "lr": lr, "seed": str(seed),
           "val/loss": loss}
    if trained is not None:
        row[TRAINED] = {"lr": trained, "seed": str(seed)}
    return row


def test_equal_numbers_written_differently_are_one_configuration_and_duplicates_are_named():
    rows = [_row(lr, seed, 0.5 + seed / 10) for lr in ("0.1", "1e-1") for seed in range(3)]
    rows += [_row(lr, seed, 0.2 + seed / 10) for lr in ("1", "1.0") for seed in range(3)]
    rows += [_row("0.1000001", seed, 0.9 + seed / 10) for seed in range(3)]
    stats = seed_statistics(rows, KEYS, "val/loss")
    assert [(s["lr"], s["n_seeds"], s["n_runs"]) for s in stats] == [
        ("1", 3, 6), ("0.1", 3, 6), ("0.1000001", 3, 3)]
    assert sum(s["n_runs"] for s in stats) == len(rows)  # no run lost
    assert stats[1]["val/loss mean"] == pytest.approx(0.6)
    groups = seed_groups(rows, KEYS, "val/loss")
    assert sorted(groups) == ["lr=0.1", "lr=0.1000001", "lr=1"]  # the winner test sees the same
    ranked = rank_configurations(groups, "minimize")
    assert [(r.name, r.n) for r in ranked] == [("lr=1", 3), ("lr=0.1", 3), ("lr=0.1000001", 3)]
    assert "lr=1 (mean 0.3" in winner_test(ranked, "val/loss", "minimize").evidence
    duplicates = duplicate_jobs(configurations(rows, KEYS, "val/loss"))
    assert len(duplicates) == 6
    assert duplicates[0] == ("lr=0.1, seed 0: 2 runs trained the same values (0.1-0-None, "
                             "1e-1-0-None), counted once as their mean")


def test_values_printed_alike_but_trained_different_stay_apart():
    # Hydra's text says lr=0.1 for both; the params say what each run trained with
    rows = [_row("0.1", seed, 0.5, trained) for trained in ("0.1", "0.1000001")
            for seed in range(3)]
    stats = seed_statistics(rows, KEYS, "val/loss")
    assert [(s["n_seeds"], s["n_runs"]) for s in stats] == [(3, 3), (3, 3)]
    assert sorted(seed_groups(rows, KEYS, "val/loss")) == ["lr=0.1", "lr=0.1000001"]
    assert duplicate_jobs(configurations(rows, KEYS, "val/loss")) == []


def _csv(client, run_id: str, path: str, into: Path) -> list[dict[str, str]]:
    with open(client.download_artifacts(run_id, path, str(into))) as handle:
        return list(csv.DictReader(handle))


def test_seed_sweep_of_0_1_and_1e_1_is_one_configuration_of_three_seeds(tmp_path: Path):
    proc = run_inprocess(["nnexp.train", "-m", "seed=0,1,2", "lr=0.1,1e-1,0.1000001",
                          "train.epochs=1", "model.hidden=[8]", "tracking.plots=false",
                          "tracking.log_model=false"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    runs = all_runs(uri)
    (parent,) = [r for r in runs if r.data.tags.get("nnexp.sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 9
    client = client_for(uri)
    stats = _csv(client, parent.info.run_id, "summary/seed_statistics.csv", tmp_path / "a")
    assert sorted((s["lr"], s["n_seeds"], s["n_runs"]) for s in stats) == [
        ("0.1", "3", "6"), ("0.1000001", "3", "3")]
    duplicates = parent.data.tags["nnexp.sweep.duplicates"].split("; ")
    assert [d.split(":")[0] for d in duplicates] == [f"lr=0.1, seed {s}" for s in range(3)]
    report = Path(client.download_artifacts(parent.info.run_id, "summary/children.md",
                                            str(tmp_path / "b"))).read_text()
    assert "## Duplicate jobs: one configuration run twice" in report
    assert "duplicate jobs (counted once): lr=0.1, seed 0: 2 runs" in proc.stdout
    evidence = parent.data.tags["nnexp.sweep.winner.evidence"]
    assert evidence.count(" 3 seeds)") == 2 and "lr=0.1 (mean" in evidence  # both configurations
