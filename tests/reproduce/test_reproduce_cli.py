"""The real `python -m nnexp.reproduce` command: verdicts, exit codes, one-line errors."""

from __future__ import annotations

import pytest
from helpers import client_for, run_inprocess

from nnexp.reproduce import main
from nnexp.tracking.store import ensure_experiment


def test_cli_reproduces_a_run_identically(train_run, store_uri, tmp_path):
    run_id = train_run()
    done = run_inprocess(["nnexp.reproduce", run_id, "--tracking-uri", store_uri], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    verdict = done.stdout.splitlines()[-1]
    assert verdict.startswith("identical: ") and f"reproduces {run_id}" in verdict
    assert "Traceback" not in done.stderr


def test_cli_unknown_run_id_is_one_line_and_exit_2(train_run, store_uri, tmp_path):
    ensure_experiment(client_for(store_uri), "nnexp", store_uri)  # a store, but no such run
    done = run_inprocess(["nnexp.reproduce", "0123abc", "--tracking-uri", store_uri], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"nnexp.reproduce: error: unknown run id '0123abc' in {store_uri}"]
    assert done.stdout == ""


def _main(monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.argv", ["nnexp.reproduce", *argv])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)  # run_cli sets it for the process
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_missing_store_is_exit_2_and_creates_nothing(monkeypatch, capsys, tmp_path):
    db = tmp_path / "nowhere" / "mlflow.db"
    code, _, err = _main(monkeypatch, capsys, "abc", "--tracking-uri", f"sqlite:///{db}")
    assert code == 2
    assert err.startswith(f"nnexp.reproduce: error: no MLflow store at {db}")
    assert not db.parent.exists()


def test_run_without_config_artifact_is_exit_2(monkeypatch, capsys, store_uri):
    client = client_for(store_uri)
    run_id = client.create_run(ensure_experiment(client, "nnexp", store_uri)).info.run_id
    code, _, err = _main(monkeypatch, capsys, run_id, "--tracking-uri", store_uri)
    assert code == 2
    assert err == f"nnexp.reproduce: error: run '{run_id}' has no config.yaml artifact: " \
                  "nothing to rebuild its config from\n"


def test_bad_override_type_is_exit_2_before_training(monkeypatch, capsys, train_run, store_uri):
    run_id = train_run()
    code, _, err = _main(monkeypatch, capsys, run_id, "--tracking-uri", store_uri,
                         "--overrides", "train.epochs=many")
    assert code == 2
    assert err.startswith("nnexp.reproduce: error: train.epochs: 'many' is not a valid int")
    assert len(client_for(store_uri).search_runs(["1"])) == 1
