"""What a sweep's child records: fewer files than a single run (its loss curves only, Hydra's
folder as one file, the weight hashes inside its history file), and every reader still works:
reproduce says identical, diff compares, the hashes and Hydra's files come back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from helpers import all_runs, client_for, run_inprocess, store_of

from nnexp.diff import diff_main
from nnexp.experiment.history import load_history
from nnexp.record.hydra_bundle import unbundle
from nnexp.reproduce import load_recorded_hashes

CHILD_FILES = {"config.yaml", "overrides.yaml", ".hydra/files.yaml", "weights.npz",
               "model_meta.json", "metrics/history.npz", "model/MLmodel",
               "plots/loss_curves.png"}  # 8 uploads


def _files(run) -> set[str]:
    """Every artifact file of the run as the store keeps it (a local folder here)."""
    root = Path(run.info.artifact_uri.removeprefix("file://"))
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _children(uri: str) -> list:
    children = [r for r in all_runs(uri) if r.data.tags.get("nnexp.sweep") != "parent"]
    assert len(children) == 2
    return children


def test_a_childs_artifacts_read_back_from_the_store(sweep_store, tmp_path):
    uri = store_of(sweep_store)
    best = next(r for r in all_runs(uri) if r.data.tags.get("nnexp.sweep") == "parent"
                ).data.tags["nnexp.best_run_id"]
    for child in _children(uri):
        files = _files(child)
        # the best child gets its full model after the sweep: its files besides these
        assert (files >= CHILD_FILES) if child.info.run_id == best else files == CHILD_FILES
        assert "metrics/weight_hashes.npz" not in files
        bundle = client_for(uri).download_artifacts(child.info.run_id, ".hydra/files.yaml",
                                                    str(tmp_path / child.info.run_id))
        with open(bundle) as handle:
            written = unbundle(handle.read(), tmp_path / child.info.run_id / "hydra")
        assert sorted(p.name for p in written) == ["config.yaml", "hydra.yaml",
                                                   "overrides.yaml"]
        overrides = (tmp_path / child.info.run_id / "hydra" / "overrides.yaml").read_text()
        assert f"lr={child.data.params['lr']}" in overrides


def test_a_childs_hashes_are_found_in_its_history_file(sweep_store, tmp_path):
    uri = store_of(sweep_store)
    child = _children(uri)[0]
    hashes = load_recorded_hashes(client_for(uri), child.info.run_id)
    assert hashes is not None and hashes.steps[0] == 0 and hashes.hashes.shape[0] > 2
    assert hashes.layers == ("layer1", "layer2")
    path = client_for(uri).download_artifacts(child.info.run_id, "metrics/history.npz",
                                              str(tmp_path))
    history = load_history(tmp_path / "history.npz")
    assert "weight_hashes/steps" not in history and np.all(history["epoch"][1] == [1, 2])
    assert path


def test_reproduce_and_diff_work_on_children(sweep_store, tmp_path, capsys):
    uri = store_of(sweep_store)
    a, b = (c.info.run_id for c in _children(uri))
    done = run_inprocess(["nnexp.reproduce", a, "--tracking-uri", uri], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("identical: ")
    assert diff_main([a, b, "--tracking-uri", uri, "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert set(diff["config"]) == {"lr"}
