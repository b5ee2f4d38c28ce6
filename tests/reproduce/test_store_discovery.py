"""`reproduce` and `diff` find the store of a run they are given without --tracking-uri: the
folder's own store, then the stores runs from this folder used (mlruns/stores.json); otherwise
one line says what to pass. Credentials are never written into that list."""

from __future__ import annotations

import json

import pytest

from nnexp import diff, reproduce
from nnexp.tracking.known_stores import registry_path, remember, remembered, without_password
from nnexp.tracking.store import default_tracking_uri, ensure_experiment, open_client


def _main(module, monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.argv", [module.PROG, *argv])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        module.main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def _empty_default_store() -> str:
    uri = default_tracking_uri()
    ensure_experiment(open_client(uri), "nnexp", uri)  # exists, but holds no run of ours
    return uri


def test_a_run_in_another_store_is_found_through_the_remembered_list(
        train_run, store_uri, monkeypatch, capsys):
    run_a, run_b = train_run("lr=0.05"), train_run("lr=0.01")  # in store_uri, not the default
    assert remembered() == [store_uri]
    _empty_default_store()

    code, out, err = _main(reproduce, monkeypatch, capsys, run_a, "--check-only")
    assert code == 0, err
    assert out.splitlines()[-1] == "provenance: matches the recorded one"
    default = default_tracking_uri().removeprefix("sqlite:///")
    assert err == (f"note: run {run_a} is not in {default}; reading it from {store_uri} "
                   "(listed in mlruns/stores.json)\n")

    code, out, _ = _main(diff, monkeypatch, capsys, run_a, run_b, "--json")
    assert code == 0
    assert json.loads(out)["config"]["lr"] == ["0.05", "0.01"]


def test_an_explicit_store_without_the_run_names_the_one_that_has_it(
        train_run, store_uri, monkeypatch, capsys):
    run_id = train_run()
    default = _empty_default_store()
    code, _, err = _main(reproduce, monkeypatch, capsys, run_id, "--tracking-uri", default)
    assert code == 2
    assert err == (f"nnexp.reproduce: error: unknown run id '{run_id}' in {default}; it is in "
                   f"{store_uri}: pass --tracking-uri {store_uri}\n")


def test_a_run_in_no_known_store_says_to_pass_its_store(train_run, monkeypatch, capsys):
    train_run()
    _empty_default_store()
    code, _, err = _main(diff, monkeypatch, capsys, "feedbeef", "feedbeef")
    assert code == 2
    default = default_tracking_uri().removeprefix("sqlite:///")
    assert err == (f"nnexp.diff: error: unknown run id 'feedbeef' in {default} and in the 1 "
                   "other store(s) runs from this folder used; pass --tracking-uri with the "
                   "store it was recorded in\n")


def test_the_list_keeps_no_password_and_puts_the_latest_first(tmp_path):
    remember("http://alice:s3cret@mlflow-host:5000")
    remember("postgresql+psycopg://mlflow:s3cret@db-host/mlflow")
    remember("http://mlflow-host:5000")
    remember(default_tracking_uri())  # the folder's own store needs no reminder
    assert remembered() == ["http://mlflow-host:5000", "postgresql+psycopg://mlflow@db-host/mlflow"]
    assert "s3cret" not in registry_path().read_text()
    assert without_password("https://token@host/x") == "https://host/x"
    assert without_password("sqlite:////tmp/a@b/mlflow.db") == "sqlite:////tmp/a@b/mlflow.db"
