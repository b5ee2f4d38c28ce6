"""A password in a tracking URI reaches no param, tag, run name, artifact or message: runs, a
sweep and a reproduction against a real MLflow server, with the password given on the command
line, and every byte the store keeps searched for it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from helpers import (
    client_for,
    logged_config,
    run_cli,
    start_mlflow_server,
    stop_process_group,
)

from nnexp.record.redact import redact
from nnexp.ui import free_port

SECRET = f"pw-{uuid.uuid4().hex}"  # not in any source file (a dirty tree's diff is logged)
FAST = ["train.epochs=1", "model.hidden=[8]", "tracking.plots=false", "tracking.experiment=creds"]


@pytest.mark.parametrize(("text", "expected"), [
    ("http://alice:pw@host:5000", "http://alice:***@host:5000"),
    ("tracking.uri=https://alice:pw@h/x lr=0.1", "tracking.uri=https://alice:***@h/x lr=0.1"),
    ("postgresql+psycopg2://u:p@ss@db-host/mlflow", "postgresql+psycopg2://u:***@db-host/mlflow"),
    ("https://ghp_token@host/api", "https://***@host/api"),
    (r"#0 : tracking.uri=http\://u\:pw@h\:5000 lr=1",  # as Hydra logs overrides
     r"#0 : tracking.uri=http\://u\:***@h\:5000 lr=1"),
    ("sqlite:////tmp/a@b/mlflow.db", "sqlite:////tmp/a@b/mlflow.db"),
    ("mail a@b.org about http://host:5000/x?who=a@b", "mail a@b.org about http://host:5000/x?who=a@b"),
    ("['http://u:p@h', 'mysql://v:q@h2/db']", "['http://u:***@h', 'mysql://v:***@h2/db']"),
])
def test_redact_masks_every_password(text, expected):
    assert redact(text) == expected


@pytest.fixture(scope="module")
def server(tmp_path_factory, _migrated_store):
    """A real MLflow server (SQLite backend, local artifacts) and its URI with a password."""
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    process = start_mlflow_server(root, port, schema=_migrated_store)
    try:
        yield f"http://alice:{SECRET}@127.0.0.1:{port}", root
    finally:
        stop_process_group(process)


def _stored_bytes(root: Path) -> list[tuple[str, bytes]]:
    """Every file the server keeps: its database and every artifact, run or logged model."""
    return [(str(p), p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()]


def test_runs_sweeps_and_reproductions_record_no_password(server, tmp_path, capsys):
    uri, root = server
    masked = redact(uri)
    assert masked == uri.replace(SECRET, "***")
    single = run_cli(["nnexp.train", f"tracking.uri={uri}", *FAST], cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-2000:]
    sweep = run_cli(["nnexp.train", "-m", "lr=0.1,0.01", f"tracking.uri={uri}", *FAST],
                    cwd=tmp_path)
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    for done in (single, sweep):
        assert SECRET not in done.stdout + done.stderr

    client = client_for(uri)
    experiment = client.get_experiment_by_name("creds").experiment_id
    (run,) = client.search_runs([experiment], "attributes.run_name LIKE 'tracking.uri=%'")
    assert run.info.run_name == f"tracking.uri={masked},{','.join(FAST)}"
    assert logged_config(uri, run.info.run_id)["tracking.uri"] == masked
    assert masked in run.data.tags["nnexp.command"] and masked in run.data.tags["nnexp.overrides"]
    hydra_overrides = Path(run.info.artifact_uri) / ".hydra" / "overrides.yaml"
    assert f"tracking.uri={masked}" in hydra_overrides.read_text()

    from nnexp.reproduce import reproduce

    assert reproduce([run.info.run_id, "--tracking-uri", uri, "--quiet"]) == 0
    assert SECRET not in "".join(capsys.readouterr())
    (copy,) = client.search_runs([experiment], f"tags.`nnexp.reproduced_from` = "
                                               f"'{run.info.run_id}'")
    assert f"--tracking-uri {masked}" in copy.data.tags["nnexp.command"]

    runs = client.search_runs([experiment], max_results=100)
    assert len(runs) == 5  # a run, a sweep parent and 2 children, a reproduction
    parent = next(r for r in runs if r.data.tags.get("nnexp.sweep") == "parent")
    assert masked in parent.data.tags["nnexp.sweep.overrides"]
    for found in runs:
        texts = [found.info.run_name, *found.data.params.items(), *found.data.tags.items()]
        assert SECRET not in repr(texts), found.info.run_name
    leaks = [name for name, data in _stored_bytes(root) if SECRET.encode() in data]
    assert leaks == []


def test_messages_never_echo_the_password(server, tmp_path, monkeypatch, capsys):
    uri, _ = server
    dead = f"http://alice:{SECRET}@127.0.0.1:{free_port()}"
    (tmp_path / "row.csv").write_text("1\n")
    commands = [
        (["nnexp.reproduce", "feedbeef", "--tracking-uri", uri],
         f"unknown run id 'feedbeef' in {redact(uri)}"),
        (["nnexp.diff", "feedbeef", "feedbeef", "--tracking-uri", uri],
         f"unknown run id 'feedbeef' in {redact(uri)}"),
        (["nnexp.predict", "feedbeef", str(tmp_path / "row.csv"), "--tracking-uri", uri],
         f"run 'feedbeef' not found in {redact(uri)}"),
        (["nnexp.predict", "feedbeef", str(tmp_path / "row.csv"), "--tracking-uri", dead],
         f"no MLflow server answers at {redact(dead)}"),
    ]
    for argv, message in commands:
        module = __import__(argv[0], fromlist=["main"])
        monkeypatch.setattr("sys.argv", argv)
        monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
        with pytest.raises(SystemExit) as exit_info:
            module.main()
        err = capsys.readouterr().err
        assert exit_info.value.code == 2, err
        assert message in err and SECRET not in err, err
