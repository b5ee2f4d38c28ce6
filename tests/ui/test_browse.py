"""Where to look at a run: a running `nnexp.ui`'s page, a server's page, or the command that opens
it; experiments marked as model training so MLflow's UI does not show them as GenAI apps."""

from __future__ import annotations

import json
import os

import pytest
from helpers import client_for

from nnexp.tracking.browse import how_to_open, remove_ui_state, ui_state_path, write_ui_state
from nnexp.tracking.store import default_tracking_uri, ensure_experiment, open_client
from nnexp.ui import main

KIND = "mlflow.experimentKind"
VIEW = "?workflowType=machine_learning"


def test_the_command_names_the_store_only_when_it_is_not_the_default(tmp_path):
    here = default_tracking_uri()
    assert how_to_open(here, "1", "abc") == "open: python -m nnexp.ui --run abc"
    elsewhere = f"sqlite:///{tmp_path / 'my store' / 'x.db'}"
    assert how_to_open(elsewhere, "1", "abc") == (
        f"open: python -m nnexp.ui --run abc --tracking-uri '{elsewhere}'")


def test_a_running_ui_is_linked_directly_and_a_stopped_one_is_not(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    write_ui_state(uri, "http://127.0.0.1:5123")
    assert ui_state_path(uri) == tmp_path / "mlflow.ui.json"
    assert how_to_open(uri, "7", "abc") == (
        f"open: http://127.0.0.1:5123/#/experiments/7/runs/abc{VIEW}")
    assert how_to_open(uri, "7") == f"open: http://127.0.0.1:5123/#/experiments/7/runs{VIEW}"
    state = json.loads(ui_state_path(uri).read_text())
    state["pid"] = 2**22 + 12345  # a process that is gone
    ui_state_path(uri).write_text(json.dumps(state))
    assert how_to_open(uri, "7", "abc").startswith("open: python -m nnexp.ui --run abc")
    state["pid"] = os.getpid()
    ui_state_path(uri).write_text(json.dumps(state))
    remove_ui_state(uri)
    assert not ui_state_path(uri).exists()


def test_a_tracking_server_is_its_own_page():
    uri = "http://user:secret@mlflow-host:5000"
    assert how_to_open(uri, "3", "abc") == (
        f"open: http://user:***@mlflow-host:5000/#/experiments/3/runs/abc{VIEW}")


def test_experiments_are_marked_as_model_training_new_and_old(store_uri):
    client = open_client(store_uri)
    new = ensure_experiment(client, "fresh", store_uri)
    assert client.get_experiment(new).tags[KIND] == "custom_model_development"
    old = client.create_experiment("made before nnexp marked them")
    assert KIND not in client.get_experiment(old).tags
    assert ensure_experiment(client, "made before nnexp marked them", store_uri) == old
    assert client.get_experiment(old).tags[KIND] == "custom_model_development"
    chosen = client.create_experiment("genai", tags={KIND: "genai_development"})
    ensure_experiment(client, "genai", store_uri)
    assert client_for(store_uri).get_experiment(chosen).tags[KIND] == "genai_development"


def test_ui_refuses_an_unknown_run_in_one_line(store_uri, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["nnexp.ui", "--run", "feedbeef", "--tracking-uri",
                                     store_uri])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert capsys.readouterr() == ("", "nnexp.ui: error: --run: unknown run id 'feedbeef' in "
                                       "this store\n")  # before any server starts
