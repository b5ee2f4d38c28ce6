"""`python -m nnexp.diff`: exactly the changed config keys, both runs' final metrics, provenance."""

from __future__ import annotations

import json

import pytest

from nnexp.diff import diff_main, main


def test_diff_lists_exactly_the_changed_keys(train_run, store_uri, capsys):
    a = train_run("seed=1")
    b = train_run("seed=1", "lr=0.01", "train.batch_size=16")
    assert diff_main([a, b, "--tracking-uri", store_uri, "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["config"] == {"lr": ["0.1", "0.01"], "train.batch_size": ["32", "16"]}
    assert [r["run_id"] for r in diff["runs"]] == [a, b]
    val_a, val_b = diff["metrics"]["val/loss"]
    assert val_a != val_b and {"test/accuracy", "train/loss"} <= set(diff["metrics"])
    assert diff["provenance"] == {}  # same process, same source, same versions

    assert diff_main([a, b, "--tracking-uri", store_uri]) == 0
    text = capsys.readouterr().out
    config = text.split("config (A  B):\n")[1].split("\n\n")[0].splitlines()
    assert [line.split()[1] for line in config] == ["lr", "train.batch_size"]
    assert "* val/loss" in text and "provenance (A  B): identical" in text


def test_diff_of_an_unknown_run_is_one_line_exit_2(train_run, store_uri, capsys, monkeypatch):
    a = train_run()
    monkeypatch.setattr("sys.argv", ["nnexp.diff", a, "feedbeef", "--tracking-uri", store_uri])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (f"nnexp.diff: error: unknown run id 'feedbeef' in "
                                       f"{store_uri}\n")
