"""Provenance: what a run records, --check-only warnings, dirty trees, history comparison rules."""

from __future__ import annotations

import hashlib
import math
import subprocess

from helpers import client_for

from nnexp.config.from_record import rebuild_config
from nnexp.record import provenance
from nnexp.record.history_comparison import MetricPoint, compare_histories
from nnexp.reproduce import reproduce


def test_run_records_source_versions_blas_and_a_matching_diff(train_run, store_uri, tmp_path):
    run_id = train_run("lr=0.01")
    client = client_for(store_uri)
    tags = client.get_run(run_id).data.tags
    assert tags["mlflow.source.name"] == "nnexp.train"
    assert tags["nnexp.command"] == "python -m nnexp.train lr=0.01"
    for package in ("python", "numpy", "nnexp", "mlflow", "hydra-core", "scikit-learn", "pillow"):
        assert tags[f"nnexp.version.{package}"] not in ("", "not installed"), package
    assert provenance.blas_threads(tags["nnexp.blas"]) is not None, tags["nnexp.blas"]
    assert tags["nnexp.dtype"] == "float32" and tags["nnexp.seed"] == "0"
    if tags.get("nnexp.git.dirty") == "true":
        patch = client.download_artifacts(run_id, "source/git_diff.patch", str(tmp_path))
        digest = hashlib.sha256(open(patch, encoding="utf-8").read().encode()).hexdigest()
        assert tags["nnexp.git.diff_sha256"] == digest


def test_check_only_warns_per_difference_and_trains_nothing(train_run, store_uri, capsys):
    run_id = train_run()
    client = client_for(store_uri)
    client.set_tag(run_id, "nnexp.version.numpy", "1.0.0")
    client.set_tag(run_id, "mlflow.source.git.commit", "0" * 40)
    code = reproduce([run_id, "--tracking-uri", store_uri, "--check-only"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert any(x.startswith("warning: nnexp.version.numpy differs: recorded 1.0.0, now ")
               for x in lines)
    assert any(x.startswith(f"warning: mlflow.source.git.commit differs: recorded {'0' * 40}")
               for x in lines)
    assert lines[-1].startswith("provenance: ") and "difference" in lines[-1]
    assert len(client.search_runs(["1"])) == 1


def _git(repo, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo,
                   check=True, capture_output=True)


def test_untracked_source_file_makes_the_tree_dirty_and_is_in_the_patch(tmp_path, monkeypatch):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "commit", "-q", "-m", "one")
    monkeypatch.setattr(provenance, "SOURCE_DIR", tmp_path)
    assert provenance.git_state()["dirty"] == "false"
    (tmp_path / "new_layer.py").write_text("y = 2\n")
    state = provenance.git_state()
    assert state["dirty"] == "true"
    assert "+++ b/new_layer.py" in state["diff"] and "+y = 2" in state["diff"]


def _points(*values: float) -> list[MetricPoint]:
    return [MetricPoint(step, value, step) for step, value in enumerate(values)]


def test_comparison_is_bitwise_nan_equal_signed_zero_different_missing_counted():
    recorded = {"a": _points(1.0, math.nan), "b": _points(0.0), "c": _points(1.0, 2.0)}
    reproduced = {"a": _points(1.0, math.nan), "b": _points(-0.0), "c": _points(1.0),
                  "d": _points(3.0)}
    result = compare_histories(recorded, reproduced)
    found = {d.key: (d.step, d.recorded, d.reproduced) for d in result.differences}
    assert found == {"b": (0, [0.0], [-0.0]), "c": (1, [2.0], []), "d": (0, [], [3.0])}
    assert result.n_metrics == 4
    assert [d.key for d in result.differences] == ["b", "d", "c"]  # earliest logged first


def test_rebuilt_config_applies_lr_group_and_list_overrides_to_an_old_record(store_uri):
    # Runs logged before `lr` became the only learning-rate key also recorded optimizer.lr (a
    # copy that training never read): it is dropped, and `lr` is what trains.
    logged = {"seed": 3, "lr": 0.001, "optimizer": {"name": "adam", "lr": 0.5},
              "model": {"hidden": [16]}}
    cfg = rebuild_config(logged, ["lr=0.05", "model.hidden=[8,4]"], store_uri, "exp")
    assert (cfg.lr, list(cfg.model.hidden)) == (0.05, [8, 4]) and "lr" not in cfg.optimizer
    assert (cfg.seed, cfg.tracking.uri, cfg.tracking.experiment) == (3, store_uri, "exp")
    sgd = rebuild_config(logged, ["optimizer=sgd"], store_uri, "exp")
    assert (sgd.optimizer.name, sgd.lr) == ("sgd", 0.1)
