"""Real sweeps as subprocesses: one MLflow parent per sweep, a child per job, a summary."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest
from helpers import all_runs, client_for, run_cli, run_inprocess

from nnexp.experiment.verdict import VERDICTS

FAST = ["train.epochs=2", "model.hidden=[8]", "tracking.log_every_n_steps=5"]


def _store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


def _split(runs: list) -> tuple[object, list]:
    parents = [r for r in runs if r.data.tags.get("nnexp.sweep") == "parent"]
    assert len(parents) == 1, [r.info.run_name for r in runs]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    return parents[0], children


def _summary_rows(uri: str, parent, tmp_path: Path) -> list[dict[str, str]]:
    path = client_for(uri).download_artifacts(parent.info.run_id, "summary/children.csv",
                                              str(tmp_path))
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_lr_and_seed_sweep_parent_children_summary_then_resume(tmp_path):
    proc = run_inprocess(["nnexp.train", "-m", "lr=0.1,0.01", "seed=0,1", *FAST], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    uri = _store(tmp_path)
    parent, children = _split(all_runs(uri))

    assert parent.info.status == "FINISHED"
    assert parent.data.tags["nnexp.sweep.params"] == "lr,seed"
    assert parent.data.tags["nnexp.sweep.dir"].startswith(str(tmp_path / "multirun"))
    assert sorted(c.info.run_name for c in children) == [
        "lr=0.01,seed=0", "lr=0.01,seed=1", "lr=0.1,seed=0", "lr=0.1,seed=1"]
    assert all(c.info.status == "FINISHED" for c in children)
    assert sorted(c.data.params["lr"] for c in children) == ["0.01", "0.01", "0.1", "0.1"]
    best = min(children, key=lambda c: c.data.metrics["val/loss"])  # the luckiest seed
    means = {lr: sum(c.data.metrics["val/loss"] for c in children if c.data.params["lr"] == lr)
             / 2 for lr in ("0.1", "0.01")}
    best_lr = min(means, key=means.__getitem__)  # the best configuration, by its mean
    best_of_config = min((c for c in children if c.data.params["lr"] == best_lr),
                         key=lambda c: c.data.metrics["val/loss"])
    assert parent.data.tags["nnexp.best_config"] == f"lr={best_lr}"
    assert parent.data.tags["nnexp.best_run_id"] == best_of_config.info.run_id
    assert parent.data.tags["nnexp.best_single_run_id"] == best.info.run_id

    client = client_for(uri)
    summary = {a.path for a in client.list_artifacts(parent.info.run_id, "summary")}
    assert {"summary/children.csv", "summary/children.md", "summary/seed_statistics.csv",
            "summary/val_loss_vs_lr.png"} <= summary
    rows = _summary_rows(uri, parent, tmp_path)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"FINISHED"}
    stats_path = client.download_artifacts(parent.info.run_id, "summary/seed_statistics.csv",
                                           str(tmp_path / "s"))
    with open(stats_path) as handle:
        stats = list(csv.DictReader(handle))
    stats.sort(key=lambda s: s["lr"])
    assert [(s["lr"], s["n_seeds"]) for s in stats] == [("0.01", "2"), ("0.1", "2")]
    lr01 = [c.data.metrics["val/loss"] for c in children if c.data.params["lr"] == "0.01"]
    assert float(stats[0]["val/loss mean"]) == pytest.approx(sum(lr01) / 2)
    assert parent.data.tags["nnexp.sweep.winner"] == "undetermined"  # 2 seeds are too few
    assert {r["verdict"] for r in rows} <= set(VERDICTS) and all(r["verdict"] for r in rows)

    # the console's table, from the same rows: ranked, best, seeds, the parent and how to look
    table = proc.stdout.split(f"sweep {parent.info.run_id}: 4 runs ranked by val/loss (lowest "
                              "first)\n")[1].splitlines()
    assert table[0].split() == ["#", "lr", "seed", "val/loss", "test/accuracy", "status",
                                "verdict", "run"]
    ranked = sorted(children, key=lambda c: c.data.metrics["val/loss"])
    for rank, (line, child) in enumerate(zip(table[1:5], ranked, strict=True), 1):
        assert line.split() == [str(rank), child.data.params["lr"], child.data.params["seed"],
                                f"{child.data.metrics['val/loss']:.4f}",
                                f"{child.data.metrics['test/accuracy']:.4f}", "FINISHED",
                                child.data.tags["nnexp.verdict"], child.info.run_id]
    assert table[5].startswith(f"best: lr={best_lr} (mean val/loss {means[best_lr]:.4f} over "
                               "2 seeds)  runs ")
    assert table[6] == (f"best single run: lr={best.data.params['lr']},"
                        f"seed={best.data.params['seed']}  val/loss "
                        f"{best.data.metrics['val/loss']:.4f}  run {best.info.run_id}")
    assert table[7] == "across seeds (val/loss, mean ± std, 95% bootstrap interval):"
    by_lr = {s["lr"]: s for s in stats}
    seeds = [line.split()[:5] for line in table[9:11]]
    assert sorted(seeds) == sorted([lr, "2", f"{float(by_lr[lr]['val/loss mean']):.4f}", "±",
                                    f"{float(by_lr[lr]['val/loss std']):.4f}"] for lr in by_lr)
    (winner,) = [line for line in table if line.startswith("winner: ")]
    assert winner == f"winner: {parent.data.tags['nnexp.sweep.winner']}: " \
                     f"{parent.data.tags['nnexp.sweep.winner.evidence']}"
    db = tmp_path / "mlruns" / "mlflow.db"
    assert table[-2:] == [f"parent run {parent.info.run_id} FINISHED, recorded in {db}",
                          f"open: python -m nnexp.ui --run {parent.info.run_id}"]

    again = run_inprocess(["nnexp.train", "-m", "lr=0.1,0.01", "seed=0,1",
                           "sweep.skip_finished=true", *FAST], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    runs = all_runs(uri)
    assert len(runs) == 6  # two parents, the four children of the first sweep, no new child
    second = max((r for r in runs if r.data.tags.get("nnexp.sweep") == "parent"),
                 key=lambda r: r.info.start_time)
    assert second.info.status == "FINISHED"
    reused = [k for k in second.data.tags if k.startswith("nnexp.sweep.reused.")]
    assert sorted(k.rsplit(".", 1)[1] for k in reused) == sorted(c.info.run_id for c in children)


def test_layer_size_sweep_with_divergent_jobs_fails_parent_and_lists_them(tmp_path):
    proc = run_inprocess(["nnexp.train", "-m", "optimizer=sgd", "lr=0.05,1e9",
                          "model.hidden=[8],[16,8]", "train.epochs=2"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr  # divergence is a result of a sweep, not a crash
    uri = _store(tmp_path)
    parent, children = _split(all_runs(uri))
    by_name = {c.info.run_name: c for c in children}
    assert set(by_name) == {"lr=0.05,model.hidden=[8]", "lr=0.05,model.hidden=[16,8]",
                            "lr=1000000000.0,model.hidden=[8]",
                            "lr=1000000000.0,model.hidden=[16,8]"}
    for name, child in by_name.items():
        if name.startswith("lr=1000000000.0"):
            assert child.info.status == "FAILED"
            assert child.data.tags["nnexp.diverged"] == "true"
            assert child.data.tags["nnexp.diverged.epoch"] == "1"
        else:
            assert child.info.status == "FINISHED"
    assert parent.info.status == "FAILED"
    failed = parent.data.tags["nnexp.sweep.failed"]
    assert "lr=1000000000.0,model.hidden=[8] (diverged)" in failed
    assert "lr=1000000000.0,model.hidden=[16,8] (diverged)" in failed
    assert parent.data.tags["nnexp.best_run_name"].startswith("lr=0.05")
    printed = proc.stdout.splitlines()
    rows = {line.split()[-1]: line.split() for line in printed if line.startswith("  ")}
    for name, child in by_name.items():
        if name.startswith("lr=1000000000.0"):
            assert rows[child.info.run_id][0] == "-" and rows[child.info.run_id][-3:-1] == [
                "DIVERGED", "diverged"]
        else:
            assert rows[child.info.run_id][0] in ("1", "2")
    (failed_line,) = [line for line in printed if line.startswith("failed or diverged: ")]
    assert failed_line.startswith("failed or diverged: 2 of 4: ")
    assert "lr=1000000000.0,model.hidden=[8] (diverged: non-finite" in failed_line
    assert printed[-2] == f"parent run {parent.info.run_id} FAILED, recorded in " \
        f"{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert by_name["lr=0.05,model.hidden=[16,8]"].data.params["model.hidden"] == "[16, 8]"


@pytest.mark.usefixtures("mlruns_store")
def test_joblib_sweep_of_four_parallel_jobs_loses_nothing(tmp_path):
    proc = run_cli(["nnexp.train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4",
                    "lr=0.03,0.01,0.003,0.001", *FAST], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    uri = _store(tmp_path)
    parent, children = _split(all_runs(uri))
    assert parent.info.status == "FINISHED" and len(children) == 4
    client = client_for(uri)
    reference = None
    for child in children:
        assert child.info.status == "FINISHED"
        n_train = int(child.data.params["dataset.n_train"])
        steps = -(-n_train // 32) * 2
        counts = {k: len(client.get_metric_history(child.info.run_id, k))
                  for k in child.data.metrics}
        assert counts["train/loss"] == counts["val/loss"] == 2
        assert counts["train/loss_step"] == counts["grad_norm/layer1"] == len(range(0, steps, 5))
        reference = reference or (len(child.data.params), counts)
        assert (len(child.data.params), counts) == reference
    # each worker's log is whole, to its job's last line: the workers' objects are frozen at
    # exit (no teardown collections), their log files still flushed and closed
    logs = [p.read_text() for p in tmp_path.glob("multirun/*/*/*/train.log")]
    assert sorted(line.rsplit(" run ", 1)[1] for text in logs for line in text.splitlines()
                  if " val/loss " in line) == sorted(c.info.run_id for c in children)


def test_invalid_value_in_a_sweep_stops_before_any_run(tmp_path):
    proc = run_inprocess(["nnexp.train", "-m", "lr=0.1,-1", *FAST], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "nnexp.train: error: lr: must be a finite number > 0, got -1.0")
    assert "Traceback" not in proc.stderr
    assert all_runs(_store(tmp_path)) == []


@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None,
                    reason="the optuna extra is not installed (pip install -e '.[optuna]')")
def test_optuna_search_runs_trials_as_children(tmp_path):
    proc = run_inprocess(["nnexp.train", "-m", "hparams_search=lr_width",
                          "hydra.sweeper.n_trials=3", "train.epochs=2"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    parent, children = _split(all_runs(_store(tmp_path)))
    assert len(children) == 3 and parent.info.status == "FINISHED"
    assert parent.data.tags["nnexp.sweep.params"] == "lr,model.hidden"
    for child in children:
        assert 0.01 <= float(child.data.params["lr"]) <= 0.5
        assert child.info.run_name.startswith("lr=")


@pytest.mark.usefixtures("mlruns_store")
def test_submitit_local_launcher_runs_children_under_the_parent(tmp_path):
    proc = run_cli(["nnexp.train", "-m", "hydra/launcher=submitit_local", "lr=0.1,0.01", *FAST],
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    parent, children = _split(all_runs(_store(tmp_path)))
    assert parent.info.status == "FINISHED"
    assert sorted(c.info.run_name for c in children) == ["lr=0.01", "lr=0.1"]
    assert all(c.info.status == "FINISHED" for c in children)


def test_job_that_raises_fails_the_parent_and_other_jobs_still_run(tmp_path):
    from nnexp.data import make_image_folder

    good = make_image_folder(tmp_path / "pictures", per_class=6, size=(8, 8))
    missing = tmp_path / "nowhere"
    proc = run_inprocess(["nnexp.train", "-m", "data=images", "data.image_size=[8,8]",
                          f"data.image_dir={missing},{good}", *FAST], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"nnexp.train: error: data.image_dir: folder '{missing}' does not exist")
    assert "Traceback" not in proc.stderr
    parent, children = _split(all_runs(_store(tmp_path)))
    assert [c.info.status for c in children] == ["FINISHED"]  # the good job ran after the bad
    assert parent.info.status == "FAILED"
    assert f"data.image_dir={missing} (raised: data.image_dir: folder" in (
        parent.data.tags["nnexp.sweep.failed"])
