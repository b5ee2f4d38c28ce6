"""`sweep.resume` continues a stopped run once, with the code and the checkpoint that made it:
concurrent resumers (a lease), other code, an altered checkpoint, `sweep.resume_force`."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import all_runs, client_for

from nnexp.experiment.checkpoint import file_sha256, load, save
from nnexp.sweeps.job import run_job
from nnexp.sweeps.resume import ResumeRefused, current_code, find_resume_point

QUICK = ("tracking.plots=false", "tracking.log_model=false", "train.epochs=4",
         "sweep.checkpoint_every=1")


def _stopped(make_cfg, store_uri: str, *overrides: str):
    """A run that trained 4 epochs with a checkpoint each, then marked KILLED (as if killed
    after its last epoch); its id and config hash."""
    first = run_job(make_cfg(*QUICK, *overrides), run_name="run", verbose=False)
    client = client_for(store_uri)
    client.set_terminated(first.run_id, "KILLED")
    return first.run_id, client.get_run(first.run_id).data.tags["nnexp.config_hash"]


def _resume(make_cfg, *overrides: str):
    return run_job(make_cfg(*QUICK, "sweep.resume=true", *overrides), run_name="again",
                   verbose=False)


def test_two_resumers_at_once_continue_a_stopped_run_once(make_cfg, store_uri):
    stopped, identity = _stopped(make_cfg, store_uri)
    code, found, start = current_code(None), [], threading.Barrier(2)

    def resume() -> None:
        start.wait()
        found.append(find_resume_point(store_uri, "nnexp", identity, keep_pruned=False,
                                       code=code))

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(p is None for p in found) == [False, True]  # one continues, one does not
    (point,) = [p for p in found if p is not None]
    assert point.run_id == stopped and point.checkpoint.epoch == 4


def test_a_live_lease_passes_the_run_over_and_an_expired_one_does_not(make_cfg, store_uri,
                                                                      caplog):
    stopped, identity = _stopped(make_cfg, store_uri)
    client = client_for(store_uri)
    client.set_tag(stopped, "nnexp.resume.lease", f"other {time.time() + 300:.0f}")
    assert find_resume_point(store_uri, "nnexp", identity, keep_pruned=False,
                             code=current_code(None)) is None
    assert any(m.startswith(f"note: run {stopped} is being continued by another process (its "
                            "lease ends ") for m in caplog.messages)
    client.set_tag(stopped, "nnexp.resume.lease", f"crashed {time.time() - 1:.0f}")
    again = _resume(make_cfg)
    assert again.resumed_from == stopped
    assert client.get_run(stopped).data.tags["nnexp.continued_by"] == again.run_id


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder,
                   check=True, capture_output=True)


def test_other_code_is_refused_in_one_line_and_force_continues_recorded(
        make_cfg, store_uri, tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)  # the user's project, whose commit the runs record
    (project / "layers.py").write_text("SCALE = 1\n")
    _git(project, "init", "-q")
    _git(project, "add", "layers.py")
    _git(project, "commit", "-qm", "first")
    stopped, _ = _stopped(make_cfg, store_uri)
    before = client_for(store_uri).get_run(stopped).data.tags["mlflow.source.git.commit"]
    (project / "layers.py").write_text("SCALE = 2\n")
    _git(project, "commit", "-qam", "second")
    with pytest.raises(ResumeRefused) as refused:
        _resume(make_cfg)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(
        f"sweep.resume: run {stopped} cannot be continued exactly: mlflow.source.git.commit "
        f"was {before}, now ")
    assert message.endswith("sweep.resume_force=true continues it anyway (recorded on the new run)")
    assert len(all_runs(store_uri)) == 1  # no run was made
    forced = _resume(make_cfg, "sweep.resume_force=true")
    assert forced.resumed_from == stopped
    recorded = client_for(store_uri).get_run(forced.run_id).data.tags["nnexp.resume.forced"]
    assert recorded.startswith(f"mlflow.source.git.commit was {before}, now ")


def test_an_altered_checkpoint_is_refused_and_force_continues_from_it(make_cfg, store_uri):
    stopped, _ = _stopped(make_cfg, store_uri)
    client = client_for(store_uri)
    run = client.get_run(stopped)
    folder = Path(run.info.artifact_uri) / "checkpoints"
    newest = folder / "epoch-000004.npz"
    for path in folder.iterdir():  # every checkpoint's checksum is in the record
        assert run.data.tags[f"nnexp.checkpoint.sha256.{path.name}"] == file_sha256(path)
    checkpoint = load(newest)
    checkpoint.params[:] = np.float64(0.5)  # a readable checkpoint with other weights
    save(checkpoint, newest)
    with pytest.raises(ResumeRefused, match="checkpoint epoch-000004.npz has sha256 .*, the "
                                            r"record says .* \(altered since it was logged\)"):
        _resume(make_cfg)
    forced = _resume(make_cfg, "sweep.resume_force=true")
    assert forced.resumed_from == stopped
    tags = client.get_run(forced.run_id).data.tags
    assert tags["nnexp.resumed_at_epoch"] == "4"
    assert "altered since it was logged" in tags["nnexp.resume.forced"]
