"""nnexp from Python keeps to itself: verbose=False prints nothing, a store file in the working
folder gets no journal or lock beside it, compose works from many threads at once, and a
folder of the user's own configs is `config_dir=` and never part of a run's name."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from helpers import client_for

import nnexp
from nnexp.config import ConfigError

FAST = ("train.epochs=1", "model.hidden=[8]", "tracking.plots=false", "tracking.log_model=false")


def test_a_quiet_sweep_prints_nothing(store_uri, capfd, caplog):
    result = nnexp.sweep("lr=0.1,0.01", *FAST, f"tracking.uri={store_uri}", verbose=False)
    assert result.status == "FINISHED" and len(result.runs) == 2
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # no ranked table, no `open:` line
    assert [r.getMessage() for r in caplog.records if r.name.startswith("nnexp")] == []


def test_a_store_file_in_the_working_folder_gets_no_journal_or_lock_beside_it(
        tmp_path, monkeypatch, _migrated_store):
    from nnexp.tracking.store import store_files_dir

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    shutil.copy(_migrated_store, work / "notebook.db")
    uri = f"sqlite:///{work / 'notebook.db'}"
    result = nnexp.run("lr=0.1", *FAST, "tracking.uri=sqlite:///notebook.db", verbose=False)
    nnexp.sweep("lr=0.1,0.01", *FAST, "tracking.uri=sqlite:///notebook.db", verbose=False)

    assert client_for(uri).get_run(result.run_id).info.status == "FINISHED"
    assert sorted(os.listdir(work)) == ["artifacts", "notebook.db"]  # the store's own files
    kept = store_files_dir(uri)
    assert kept.is_relative_to(Path(os.environ["NNEXP_CACHE_DIR"]))
    assert (kept / "notebook.lock").is_file() and (kept / "outbox").is_dir()


def test_the_default_store_keeps_its_journal_and_lock_in_mlruns(tmp_path):
    from nnexp.tracking.store import default_tracking_uri, outbox_root, store_files_dir

    uri = default_tracking_uri(tmp_path)
    assert store_files_dir(uri) == tmp_path / "mlruns"
    assert outbox_root(uri) == tmp_path / "mlruns" / "outbox"


def test_compose_from_many_threads_gives_each_its_own_config():
    failures: list[str] = []

    def compose_many(i: int) -> None:
        for j in range(4):
            lr, width = 0.001 * (i + 1) + j * 1e-5, i * 4 + j + 1
            try:
                cfg = nnexp.compose(f"lr={lr}", f"model.hidden=[{width}]",
                                    ["optimizer=adam", "optimizer=sgd"][i % 2])
            except Exception as exc:  # noqa: BLE001 - any error is the finding
                failures.append(f"thread {i}: {type(exc).__name__}: {exc}")
                continue
            got = (cfg.lr, list(cfg.model.hidden), cfg.optimizer.name)
            if got != (lr, [width], ["adam", "sgd"][i % 2]):
                failures.append(f"thread {i}: asked {lr}, {width}; got {got}")

    threads = [threading.Thread(target=compose_many, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


@pytest.fixture
def my_configs(tmp_path) -> Path:
    """A user's config folder with a model option of its own."""
    folder = tmp_path / "my_configs"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "tiny.yaml").write_text("hidden: [3]\nactivation: tanh\n")
    return folder


def test_config_dir_finds_the_users_configs_and_stays_out_of_run_names(my_configs, store_uri):
    cfg = nnexp.compose("model=tiny", config_dir=my_configs)
    assert (list(cfg.model.hidden), cfg.model.activation) == ([3], "tanh")

    settings = ("train.epochs=1", "tracking.plots=false", "tracking.log_model=false",
                f"tracking.uri={store_uri}")
    one = nnexp.run("model=tiny", *settings, config_dir=my_configs, verbose=False)
    old_way = nnexp.run("model=tiny", f"hydra.searchpath=[file://{my_configs}]", *settings,
                        verbose=False)
    swept = nnexp.sweep("model=tiny,mlp", *settings, config_dir=my_configs, verbose=False)

    client = client_for(store_uri)
    names = [client.get_run(r.run_id).info.run_name for r in (one, old_way, *swept.runs)]
    assert names[0] == names[1] == "model=tiny," + ",".join(settings)
    assert names[2:] == ["model=tiny", "model=mlp"]
    assert client.get_run(one.run_id).data.params["model.hidden"] == "[3]"


def test_config_dir_that_is_no_folder_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^config_dir: '.*/nowhere' is not a folder"):
        nnexp.compose(config_dir=tmp_path / "nowhere")
