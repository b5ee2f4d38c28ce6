"""Provenance: what a run records, --check-only warnings, the user's project's git state (its
commit, untracked files, a capped diff), history comparison rules."""

from __future__ import annotations

import hashlib
import math
import subprocess
from pathlib import Path

from helpers import client_for

from nnexp.config.from_record import rebuild_config
from nnexp.record import provenance
from nnexp.record.history_comparison import MetricPoint, compare_histories
from nnexp.record.source_state import project_dir, source_state
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


def _git(repo, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


def _project(root: Path) -> Path:
    """A user's repository: a commit, a modified tracked file, an untracked file, a 1 MB binary
    file added, and nnexp's own mlruns/ beside them."""
    root.mkdir()
    _git(root, "init", "-q")
    (root / "model.py").write_text("width = 8\n")
    _git(root, "add", "model.py")
    _git(root, "commit", "-q", "-m", "one")
    (root / "model.py").write_text("width = 16\n")
    (root / "new_layer.py").write_text("y = 2\n")
    (root / "weights.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MB with NUL bytes
    _git(root, "add", "weights.bin")
    (root / "mlruns").mkdir()
    (root / "mlruns" / "store.db").write_bytes(b"\0" * 100)  # nnexp's output: not the project's
    return root


def test_untracked_source_file_makes_the_tree_dirty_and_is_in_the_patch(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "commit", "-q", "-m", "one")
    assert not source_state(tmp_path).dirty and source_state(tmp_path).diff == ""
    (tmp_path / "new_layer.py").write_text("y = 2\n")
    state = source_state(tmp_path)
    assert state.dirty and state.untracked == ["new_layer.py"]
    assert "+++ b/new_layer.py" in state.diff and "+y = 2" in state.diff


def test_run_in_a_users_repository_records_its_commit_untracked_files_and_a_capped_diff(
        train_run, store_uri, tmp_path, monkeypatch, capsys):
    repo = _project(tmp_path / "project")
    monkeypatch.chdir(repo)
    run_id = train_run("lr=0.01")
    tags = client_for(store_uri).get_run(run_id).data.tags
    assert tags["mlflow.source.git.commit"] == _git(repo, "rev-parse", "HEAD").strip()
    assert tags["mlflow.source.git.branch"] == _git(repo, "rev-parse", "--abbrev-ref",
                                                    "HEAD").strip()
    assert tags["nnexp.git.dirty"] == "true"
    assert tags["nnexp.git.untracked"] == "new_layer.py"  # mlruns/ is nnexp's, not the project's
    assert tags["nnexp.git.diff_note"] == ("binary file summarised: weights.bin | binary, "
                                           "1048576 bytes")
    patch = Path(client_for(store_uri).download_artifacts(
        run_id, "source/git_diff.patch", str(tmp_path / "artifacts")))
    assert patch.stat().st_size < 256 * 1024
    text = patch.read_text()
    assert "+width = 16" in text and "+y = 2" in text and "weights.bin" in text
    assert hashlib.sha256(text.encode()).hexdigest() == tags["nnexp.git.diff_sha256"]
    assert tags["nnexp.version.nnexp"] and tags.get("nnexp.source.commit") == \
        provenance.nnexp_source().get("nnexp.source.commit")

    # the check of nnexp.reproduce compares with the project as it is now
    assert reproduce([run_id, "--tracking-uri", store_uri, "--check-only"]) == 0
    (repo / "model.py").write_text("width = 32\n")
    assert reproduce([run_id, "--tracking-uri", store_uri, "--check-only"]) == 1
    assert "warning: nnexp.git.diff_sha256 differs" in capsys.readouterr().out


def test_diff_over_the_cap_is_summarised_one_stat_line_per_file(tmp_path):
    repo = _project(tmp_path / "project")
    (repo / "table.csv").write_text("1,2,3\n" * 60_000)  # 360 KB of text
    state = source_state(repo)
    assert state.notes[0] == "diff over 256 KB: summarised"
    assert state.diff.splitlines() == [
        "# diff over 256 KB: summarised; one stat line per file", "model.py | +1 -1",
        "weights.bin | binary, 1048576 bytes", "new_layer.py | untracked, 6 bytes",
        "table.csv | untracked, 360000 bytes"]


def test_run_outside_any_repository_records_no_commit_and_says_so(train_run, store_uri,
                                                                    tmp_path):
    assert subprocess.run(["git", "rev-parse"], cwd=tmp_path, capture_output=True).returncode
    run_id = train_run()
    client = client_for(store_uri)
    tags = client.get_run(run_id).data.tags
    assert "mlflow.source.git.commit" not in tags and "nnexp.git.diff_sha256" not in tags
    assert tags["nnexp.git.dirty"] == "unknown (not in a git repository)"
    assert not client.list_artifacts(run_id, "source")


def test_project_is_the_repository_of_config_dir_when_the_launch_folder_is_in_none(tmp_path):
    repo = _project(tmp_path / "project")
    (repo / "conf").mkdir()
    outside = tmp_path / "scratch"
    outside.mkdir()
    command = ["python", "-m", "nnexp.train", "--config-dir", str(repo / "conf")]
    assert project_dir(command, outside) == repo / "conf"
    assert project_dir(command, repo) == repo
    assert project_dir(["nnexp-train", f"--config-dir={repo / 'conf'}"], outside) == repo / "conf"
    assert source_state(project_dir(command, outside)).root == repo


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
