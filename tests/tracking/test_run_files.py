"""A run's files read from its artifact location (`records.RunFiles`): the bytes the run logged,
None for a file it has not, the size limit of `download_artifact`, each folder listed once."""

from __future__ import annotations

import pytest
from helpers import client_for

from nnexp.tracking.records import RecordError, RunFiles, download_artifact


def _run_with_files(store_uri: str, tmp_path) -> tuple[object, dict[str, bytes]]:
    client = client_for(store_uri)
    run = client.create_run(client.create_experiment("files"))
    logged = {"weights.npz": b"w" * 300, "model_meta.json": b'{"task": "classification"}',
              "metrics/history.npz": b"h" * 50}
    for name, data in logged.items():
        local = tmp_path / "logged" / name
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
        client.log_artifact(run.info.run_id, str(local), name.rpartition("/")[0] or None)
    return run, logged


def test_run_files_are_the_bytes_the_run_logged_and_each_folder_is_listed_once(
        store_uri, tmp_path):
    run, logged = _run_with_files(store_uri, tmp_path)
    client = client_for(store_uri)
    files = RunFiles(client, run.info.run_id, run.info.artifact_uri)
    listings = []
    listed = files.repo.list_artifacts
    files.repo.list_artifacts = lambda path=None: listings.append(path) or listed(path)
    for name, data in logged.items():
        found = files.download(name, tmp_path / "new", 1000)
        assert found == tmp_path / "new" / name and found.read_bytes() == data
        assert download_artifact(client, run.info.run_id, name, tmp_path / "old",
                                 1000).read_bytes() == data
    assert files.download("config.yaml", tmp_path / "new", 1000) is None
    assert files.download("metrics", tmp_path / "new", 1000) is None  # a folder, not a file
    assert sorted(listings, key=str) == [None, "metrics"]


def test_a_run_file_over_the_limit_is_refused_as_download_artifact_refuses_it(store_uri,
                                                                               tmp_path):
    run, _ = _run_with_files(store_uri, tmp_path)
    client = client_for(store_uri)
    message = (f"run '{run.info.run_id}': weights.npz is 300 bytes, more than the 100 bytes "
               "nnexp ever writes there; refused unread")
    with pytest.raises(RecordError) as refused:
        RunFiles(client, run.info.run_id, run.info.artifact_uri).download(
            "weights.npz", tmp_path, 100)
    assert str(refused.value) == message
    with pytest.raises(RecordError, match=message):
        download_artifact(client, run.info.run_id, "weights.npz", tmp_path, 100)
    assert not (tmp_path / "weights.npz").exists()
