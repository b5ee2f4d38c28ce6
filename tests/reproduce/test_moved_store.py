"""A store copied or moved elsewhere (SQLite records absolute artifact paths) is followed to its
own artifact folder or refused in one line, and never written outside; a run whose config.yaml
was edited after it ran is flagged."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from helpers import client_for

from nnexp.diff import diff_main
from nnexp.reproduce import reproduce
from nnexp.tracking.records import RecordError


def _listing(root: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in root.rglob("*"))


def _copy_of_the_store(store_uri: str, tmp_path: Path, *, move_original: bool
                       ) -> tuple[str, Path]:
    """The store copied to tmp/copy (its URI), and the original's folder (renamed if asked)."""
    original = Path(store_uri[len("sqlite:///"):]).parent
    shutil.copytree(original, tmp_path / "copy")
    if move_original:
        original = original.rename(tmp_path / "moved-away")
    return f"sqlite:///{tmp_path / 'copy' / 'mlflow.db'}", original


def _reproduction_artifacts(uri: str, run_id: str) -> str:
    client = client_for(uri)
    found = client.search_runs([client.get_run(run_id).info.experiment_id],
                               f"tags.`nnexp.reproduced_from` = '{run_id}'")
    return found[0].info.artifact_uri


@pytest.mark.parametrize("move_original", [True, False])
def test_a_copied_store_is_followed_to_its_own_artifacts_and_the_original_left_alone(
        train_run, store_uri, tmp_path, capsys, move_original):
    run_id, other = train_run(), train_run("lr=0.05")
    copy, original = _copy_of_the_store(store_uri, tmp_path, move_original=move_original)
    before = _listing(original)

    code = reproduce([run_id, "--tracking-uri", copy, "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0 and out.splitlines()[-1].startswith("identical: ")
    assert _listing(original) == before  # nothing written outside the store being read
    assert _reproduction_artifacts(copy, run_id).startswith(str(tmp_path / "copy") + "/")
    how, why = (("moved", "which is missing") if move_original else
                ("copied", f"which belongs to the store {original / 'mlflow.db'}"))
    assert err.splitlines() == [
        f"note: this store was {how}: it recorded its artifacts in {tmp_path / 'store'}, {why}; "
        f"they are read and written in {tmp_path / 'copy'}, its own folder, from now on"]

    assert diff_main([run_id, other, "--tracking-uri", copy]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "lr" in out  # followed already: the config is read from the copy
    assert _listing(original) == before


def test_a_moved_store_without_its_artifacts_is_refused_naming_the_folder(train_run, store_uri,
                                                                         tmp_path):
    run_id = train_run()
    original = Path(store_uri[len("sqlite:///"):]).parent
    (tmp_path / "copy").mkdir()
    shutil.copy(original / "mlflow.db", tmp_path / "copy" / "mlflow.db")
    moved = original.rename(tmp_path / "moved-away")
    before = _listing(moved)
    copy = f"sqlite:///{tmp_path / 'copy' / 'mlflow.db'}"
    folder = tmp_path / "store" / "artifacts" / "nnexp"
    expected = (f"the artifacts of experiment 'nnexp' are recorded in {folder}, which is "
                f"missing, and this store has no {tmp_path / 'copy' / 'artifacts' / 'nnexp'}: "
                "refused (copy the folder beside mlflow.db, or pass --tracking-uri of the "
                "original)")
    with pytest.raises(RecordError) as refused:
        reproduce([run_id, "--tracking-uri", copy, "--quiet"])
    assert str(refused.value) == expected
    with pytest.raises(RecordError) as refused:
        diff_main([run_id, run_id, "--tracking-uri", copy])
    assert str(refused.value) == expected
    assert _listing(moved) == before
    assert not (tmp_path / "copy" / "artifacts").exists()


def test_an_edited_config_yaml_is_flagged_diff_trusts_the_params_reproduce_refuses(
        train_run, store_uri, capsys):
    run_id, other = train_run(), train_run("lr=0.05")
    client = client_for(store_uri)
    config = Path(client.get_run(run_id).info.artifact_uri) / "config.yaml"
    text = config.read_text()
    lr = re.search(r"^lr: (.*)$", text, re.MULTILINE).group(1)
    config.write_text(re.sub(r"^lr: .*$", "lr: 0.5", text, count=1, flags=re.MULTILINE))

    assert diff_main([run_id, other, "--tracking-uri", store_uri]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"warning: run {run_id}: config.yaml disagrees with the run's "
                                f"params: lr: artifact 0.5, params {lr}; the params are shown"]
    row = next(line for line in out.splitlines() if line.strip("* ").startswith("lr "))
    assert row.split()[-2:] == [lr, "0.05"]
    with pytest.raises(RecordError, match=re.escape(
            f"run '{run_id}': config.yaml disagrees with the run's params: lr: artifact 0.5, "
            f"params {lr}; refused")):
        reproduce([run_id, "--tracking-uri", store_uri, "--quiet"])
