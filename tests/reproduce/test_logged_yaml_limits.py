"""A logged config is data: `reproduce` and `diff` refuse, in one line and before training, YAML
that expands (aliases), is oversized, or holds an interpolation they would evaluate."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import client_for

from nnexp import diff, reproduce

SECRET = "hunter2-never-recorded"


def _alias_bomb() -> str:
    """About 500 bytes of YAML that a naive reader expands to 9**9 (387 million) strings."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


def _plant(store_uri: str, run_id: str, name: str, text: str) -> None:
    """Overwrite a logged artifact in the local store, as anyone with write access could."""
    folder = Path(client_for(store_uri).get_run(run_id).info.artifact_uri)
    (folder / name).write_text(text)


def _cli(module, monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    monkeypatch.setattr("sys.argv", [module.PROG, *argv])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        module.main()
    return exit_info.value.code, capsys.readouterr().err


def _n_runs(store_uri: str) -> int:
    return len(client_for(store_uri).search_runs(["1"]))


def test_alias_bomb_in_config_is_refused_by_reproduce_and_diff(train_run, store_uri,
                                                                monkeypatch, capsys):
    bombed, other = train_run(), train_run("lr=0.01")
    bomb = _alias_bomb()
    assert len(bomb) < 1024
    _plant(store_uri, bombed, "config.yaml", bomb)
    for module, argv in ((reproduce, [bombed]), (diff, [bombed, other]), (diff, [other, bombed])):
        code, err = _cli(module, monkeypatch, capsys, *argv, "--tracking-uri", store_uri)
        assert code == 2, err
        assert err == (f"{module.PROG}: error: run '{bombed}': config.yaml uses YAML anchors or "
                       "aliases (&/*), which nnexp never writes; refused unread\n")
    assert _n_runs(store_uri) == 2


def test_alias_bomb_in_overrides_is_refused_before_training(train_run, store_uri,
                                                            monkeypatch, capsys):
    run_id = train_run("lr=0.01")
    _plant(store_uri, run_id, "overrides.yaml", "- &x lr=0.1\n- *x\n")
    code, err = _cli(reproduce, monkeypatch, capsys, run_id, "--tracking-uri", store_uri)
    assert code == 2
    assert "overrides.yaml uses YAML anchors or aliases" in err and len(err.splitlines()) == 1
    assert _n_runs(store_uri) == 1


def test_oversized_and_deeply_nested_configs_are_refused(train_run, store_uri,
                                                         monkeypatch, capsys):
    run_id = train_run()
    _plant(store_uri, run_id, "config.yaml", "seed: 0\n" + "# padding\n" * 120_000)
    code, err = _cli(reproduce, monkeypatch, capsys, run_id, "--tracking-uri", store_uri)
    assert (code, err) == (2, f"nnexp.reproduce: error: run '{run_id}': config.yaml is 1200008 "
                              "bytes, more than the 1000000 bytes nnexp ever writes there; "
                              "refused unread\n")
    _plant(store_uri, run_id, "config.yaml", "seed: " + "[" * 5000 + "]" * 5000 + "\n")
    code, err = _cli(reproduce, monkeypatch, capsys, run_id, "--tracking-uri", store_uri)
    assert code == 2 and "nested deeper than 32 levels" in err, err


def test_planted_env_resolver_is_refused_not_evaluated(train_run, store_uri, monkeypatch, capsys):
    run_id = train_run()
    folder = Path(client_for(store_uri).get_run(run_id).info.artifact_uri)
    config = (folder / "config.yaml").read_text()
    assert "run_name: null" in config
    _plant(store_uri, run_id, "config.yaml",
           config.replace("run_name: null", "run_name: ${oc.env:NNEXP_TEST_SECRET}"))
    monkeypatch.setenv("NNEXP_TEST_SECRET", SECRET)
    code, err = _cli(reproduce, monkeypatch, capsys, run_id, "--tracking-uri", store_uri)
    assert code == 2, err
    assert err == (f"nnexp.reproduce: error: run '{run_id}': config.yaml: tracking.run_name: "
                   "'${oc.env:NNEXP_TEST_SECRET}' is an interpolation; a logged config holds "
                   "resolved values, so it is refused (nothing was evaluated)\n")
    runs = client_for(store_uri).search_runs(["1"])
    assert len(runs) == 1
    assert all(SECRET not in value for run in runs for value in run.data.params.values())


def test_only_the_schemas_own_links_are_accepted():
    from nnexp.tracking.records import RecordError, parse_config

    text = "lr: 0.1\noptimizer:\n  lr: ${lr}\n  name: sgd\n"
    links = {"optimizer.lr": "${lr}"}
    assert parse_config(text, "config.yaml", links) == {"lr": 0.1,
                                                        "optimizer": {"lr": "${lr}", "name": "sgd"}}
    with pytest.raises(RecordError, match=r"config.yaml: optimizer.lr: '\$\{lr\}' is an interp"):
        parse_config(text, "config.yaml")
    with pytest.raises(RecordError, match=r"optimizer.name: '\$\{oc.env:HOME\}' is an interp"):
        parse_config(text.replace("sgd", "${oc.env:HOME}"), "config.yaml", links)
