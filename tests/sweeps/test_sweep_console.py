"""The sweep's closing table, from summary rows: ranking in either direction, rows that did not
finish, reused runs, jobs that raised, mean ± std across seeds."""

from __future__ import annotations

import math

import pytest

from nnexp.sweeps.console_table import report_lines
from nnexp.sweeps.summary import SweepSummary


def _row(run_id: str, lr: str, seed: str, accuracy: float, status: str = "FINISHED",
         diverged: bool = False, name: str | None = None) -> dict:
    return {"run_name": name or f"lr={lr},seed={seed}", "run_id": run_id, "status": status,
            "diverged": diverged, "diverged_where": "non-finite loss at epoch 2" if diverged
            else "", "error": "", "lr": lr, "seed": seed, "val/accuracy": accuracy}


def test_maximised_objective_ranks_highest_first_and_lists_what_failed():
    rows = [_row("a", "0.1", "0", 0.90), _row("b", "0.1", "1", 0.94),
            _row("c", "0.01", "0", 0.80), _row("d", "0.01", "1", 0.84),
            _row("e", "3", "0", math.nan, "FAILED", diverged=True),
            _row("f", "0.01", "2", 0.82, name="lr=0.01,seed=2 (reused)")]
    summary = SweepSummary("P", ["lr", "seed"], "val/accuracy", "maximize", rows,
                           job_errors=["lr=7,seed=0 (raised: data.image_dir: no such folder)"],
                           best=rows[1], status="FAILED")
    lines = report_lines(summary, "open: python -m nnexp.ui --run P", "/s/mlflow.db", "FAILED")
    assert lines[0] == "sweep P: 6 runs ranked by val/accuracy (highest first)"
    assert lines[1].split() == ["#", "lr", "seed", "val/accuracy", "status", "run"]
    assert [line.split()[0] for line in lines[2:8]] == ["1", "2", "3", "4", "5", "-"]
    assert [line.split()[-1] for line in lines[2:8]] == ["b", "a", "d", "f", "c", "e"]
    assert lines[5].split()[-3:] == ["FINISHED", "(reused)", "f"]
    assert lines[7].split()[-2:] == ["DIVERGED", "e"] and lines[7].split()[3] == "-"
    assert lines[8] == "best: lr=0.1 (mean val/accuracy 0.9200 over 2 seeds)  runs b, a"
    assert lines[9] == "best single run: lr=0.1,seed=1  val/accuracy 0.9400  run b"
    assert lines[10] == "across seeds (val/accuracy, mean ± std, 95% bootstrap interval):"
    assert [line.split()[:5] for line in lines[12:14]] == [
        ["0.1", "2", "0.9200", "±", "0.0283"], ["0.01", "3", "0.8200", "±", "0.0200"]]
    for line in lines[12:14]:  # the interval holds the mean
        low, high = (float(x) for x in line.split("[")[1].rstrip("]").split(", "))
        assert low <= float(line.split()[2]) <= high
    assert lines[14] == ("failed or diverged: 2 of 7: lr=3,seed=0 (diverged: non-finite loss "
                         "at epoch 2); lr=7,seed=0 (raised: data.image_dir: no such folder)")
    assert lines[-2:] == ["parent run P FAILED, recorded in /s/mlflow.db",
                          "open: python -m nnexp.ui --run P"]


def test_numbers_stay_readable_and_long_values_are_cut():
    rows = [{"run_name": "x", "run_id": "r1", "status": "FINISHED", "diverged": False,
             "lr": "0.06411607492638233", "model.hidden": "[" + ",".join(["512"] * 20) + "]",
             "val/loss": 1.5e12},
            {"run_name": "y", "run_id": "r2", "status": "FINISHED", "diverged": False,
             "lr": "0.1", "model.hidden": "[8]", "val/loss": 0.00001234}]
    summary = SweepSummary("P", ["lr", "model.hidden"], "val/loss", "minimize", rows,
                           best=rows[1])
    lines = report_lines(summary, "open: x", "/s", "FINISHED")
    assert lines[2].split()[1:4] == ["0.1", "[8]", "1.234e-05"]
    assert lines[3].split()[1] == "0.06412"  # as Optuna sampled it, to 4 significant digits
    assert lines[3].split()[2].endswith("...") and len(lines[3].split()[2]) == 40
    assert lines[3].split()[3] == "1.500e+12"


def _seed_rows() -> list[dict]:
    """lr=0.1 is better on average; lr=0.01 has the luckiest seed (0.10)."""
    values = {("a0", "0.1", "0"): 0.20, ("a1", "0.1", "1"): 0.21, ("a2", "0.1", "2"): 0.22,
              ("b0", "0.01", "0"): 0.10, ("b1", "0.01", "1"): 0.40, ("b2", "0.01", "2"): 0.40}
    return [{**_row(run_id, lr, seed, math.nan), "val/loss": value}
            for (run_id, lr, seed), value in values.items()]


def test_with_seeds_swept_best_is_the_best_mean_configuration_not_the_luckiest_seed():
    rows = _seed_rows()
    summary = SweepSummary("P", ["lr", "seed"], "val/loss", "minimize", rows, best=rows[3])
    lines = report_lines(summary, "open: x", "/s", "FINISHED")
    assert [line.split()[-1] for line in lines[2:8]] == ["b0", "a0", "a1", "a2", "b1", "b2"]
    assert lines[8] == "best: lr=0.1 (mean val/loss 0.2100 over 3 seeds)  runs a0, a1, a2"
    assert lines[9] == "best single run: lr=0.01,seed=0  val/loss 0.1000  run b0"


def test_with_seeds_swept_the_parents_best_tags_name_the_best_mean_configuration(tmp_path):
    from types import SimpleNamespace

    from nnexp.sweeps.summary import write_summary

    def run(row: dict) -> SimpleNamespace:
        return SimpleNamespace(
            info=SimpleNamespace(run_id=row["run_id"], run_name=row["run_name"],
                                 status="FINISHED", experiment_id="1"),
            data=SimpleNamespace(tags={"nnexp.overrides": f"lr={row['lr']} seed={row['seed']}"},
                                 params={"lr": str(row["lr"]), "seed": str(row["seed"])},
                                 metrics={"val/loss": row["val/loss"]}))

    children = [run(row) for row in _seed_rows()]
    parent = SimpleNamespace(info=SimpleNamespace(experiment_id="1"), data=SimpleNamespace(tags={}))
    tags, metrics = {}, {}
    client = SimpleNamespace(
        get_run=lambda run_id: parent, search_runs=lambda *a, **k: children,
        log_batch=lambda run_id, metrics=(), tags=(): record(metrics, tags),
        log_artifacts=lambda *a: None)

    def record(logged_metrics: list, logged_tags: list) -> None:
        metrics.update({m.key: m.value for m in logged_metrics})
        tags.update({t.key: t.value for t in logged_tags})

    summary = write_summary(client, "P", ["lr", "seed"], "val/loss", "minimize")
    assert tags["nnexp.best_config"] == "lr=0.1" and tags["nnexp.best_config.n_seeds"] == "3"
    assert float(tags["nnexp.best_objective"]) == metrics["best/val/loss"] == \
        pytest.approx(0.21)
    assert tags["nnexp.best_run_id"] == "a0"  # the best seed of the best configuration
    assert (tags["nnexp.best_single_run_id"], tags["nnexp.best_single_objective"]) == (
        "b0", "0.1")
    assert summary.best["run_id"] == "a0"


def test_a_run_that_kept_an_earlier_epoch_is_marked_in_the_table():
    from nnexp.sweeps.summary import _kept_epoch

    kept = _kept_epoch({"nnexp.kept_epoch": "8", "nnexp.epochs_run": "12",
                        "nnexp.stopped_early": "true"})
    assert kept == "8 of 12, stopped early" and _kept_epoch({"nnexp.epochs_run": "12"}) == ""
    rows = [{**_row("a", "0.1", "0", 0.9), "kept_epoch": kept}, _row("b", "0.01", "0", 0.8)]
    summary = SweepSummary("P", ["lr"], "val/accuracy", "maximize", rows)
    lines = report_lines(summary, "open: x", "/s", "FINISHED")
    assert "FINISHED (kept epoch 8 of 12, stopped early)  a" in lines[2]
    assert lines[3].split()[-2:] == ["FINISHED", "b"]


def test_a_reused_run_made_another_way_is_listed_under_the_job_it_answered():
    """A reused run may come from a plain run or a reproduction (no swept overrides of its own):
    the summary row shows the job's name and the values it trained, not "defaults"."""
    from types import SimpleNamespace

    from nnexp.sweeps.summary import _summary_rows

    plain = SimpleNamespace(
        info=SimpleNamespace(run_id="r1", run_name="defaults (reproduced)", status="FINISHED"),
        data=SimpleNamespace(tags={"nnexp.verdict": "healthy"}, metrics={"val/loss": 0.178},
                             params={"lr": "0.1", "seed": "0"}))
    client = SimpleNamespace(get_run=lambda run_id: plain)
    (row,) = _summary_rows(client, [], {"nnexp.sweep.reused.r1": "lr=0.1"}, ["lr"], "val/loss")
    assert (row["run_name"], row["lr"], row["run_id"]) == ("lr=0.1 (reused)", "0.1", "r1")
    summary = SweepSummary("P", ["lr"], "val/loss", "minimize", [row], job_errors=[], best=row,
                           status="FINISHED")
    lines = report_lines(summary, "open: x", "/s/mlflow.db", "FINISHED")
    assert lines[2].split()[:2] == ["1", "0.1"]
    assert "best: lr=0.1  val/loss 0.1780  run r1" in lines
