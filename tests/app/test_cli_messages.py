"""What `python -m nnexp.train` says to a newcomer: Hydra's hints in full (forgetting -m, a config
group file the schema refuses), "did you mean" for a misspelt key, and nnexp's own --help."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

FAST = ["train.epochs=1", "model.hidden=[8]"]


def _train(args: list[str]) -> tuple[int, str, str]:
    """The real command in-process: (exit code, stdout, stderr)."""
    from nnexp.train import main, multirun_first

    saved, out, err, code = sys.argv, io.StringIO(), io.StringIO(), 0
    sys.argv = ["nnexp.train", *multirun_first(args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved
    return code, out.getvalue(), err.getvalue()


def _one_error(args: list[str]) -> str:
    code, _out, err = _train(args)
    assert code == 2, err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert line.startswith("nnexp.train: error: ")
    return line.removeprefix("nnexp.train: error: ")


def test_forgetting_m_shows_hydras_whole_hint_and_the_command_with_m(store_uri):
    line = _one_error(["lr=0.1,0.01", *FAST, f"tracking.uri={store_uri}"])
    assert line.startswith("Ambiguous value for argument 'lr=0.1,0.01': ")
    for hint in ("1. To use it as a list, use key=[value1,value2]",
                 "2. To use it as string, quote the value",
                 "3. To sweep over it, add --multirun to your command line"):
        assert hint in line
    assert line.endswith(f"(nnexp: -m runs a sweep, one job per value: python -m nnexp.train -m "
                         f"lr=0.1,0.01 train.epochs=1 'model.hidden=[8]' tracking.uri={store_uri})")


def test_a_sweep_function_without_m_gets_the_m_hint_too(store_uri):
    line = _one_error(["seed=range(3)", f"tracking.uri={store_uri}"])
    assert line == (f"Sweep parameters 'seed=range(3)' requires --multirun (nnexp: -m runs a "
                    f"sweep, one job per value: python -m nnexp.train -m 'seed=range(3)' "
                    f"tracking.uri={store_uri})")


def test_a_config_group_file_the_schema_refuses_keeps_hydras_whole_message(tmp_path: Path,
                                                                           store_uri):
    (tmp_path / "mine" / "model").mkdir(parents=True)
    (tmp_path / "mine" / "model" / "my_target.yaml").write_text(
        "_target_: my_package.MyModel\nhidden: [8]\n")
    line = _one_error(["model=my_target", f"hydra.searchpath=[file://{tmp_path / 'mine'}]",
                       f"tracking.uri={store_uri}"])
    assert line == ("In 'model/my_target': ConfigKeyError raised while composing config: "
                    "model._target_: Key '_target_' not in 'ModelConfig'; "
                    "model has: hidden, activation, layers, init, negative_slope, dtype")


@pytest.mark.parametrize(("override", "expected"), [
    ("model.hiden=[32]", "model.hiden: unknown config key; did you mean model.hidden? "
                         "(model.hidden=[32])"),
    ("+model.hiden=[32]", "model.hiden: unknown config key; did you mean model.hidden? "
                          "(model.hidden=[32])"),
    ("optimizer.nmae=adam", "optimizer.nmae: unknown config key; did you mean optimizer.name? "
                            "(optimizer.name=adam)"),
    ("train.epoch=3", "train.epoch: unknown config key; did you mean train.epochs? "
                      "(train.epochs=3)"),
    ("hidden=[32]", "hidden: unknown config key; did you mean model.hidden? "
                    "(model.hidden=[32])"),
    ("colour=red", "colour: unknown config key (see `python -m nnexp.train --cfg job` for the "
                   "keys)"),
])
def test_a_misspelt_key_gets_did_you_mean(override, expected, store_uri):
    assert _one_error([override, f"tracking.uri={store_uri}"]) == expected


def test_help_is_nnexps_own():
    code, out, _err = _train(["--help"])
    assert code == 0
    assert out.startswith("python -m nnexp.train [-m] [key=value ...] [group=option ...]\n")
    assert "is powered by Hydra" not in out
    assert "nnexp trains small neural networks" in out
    assert "== Sweeps: -m (--multirun) ==" in out
    assert "python -m nnexp.train -m lr=0.1,0.01 'model.hidden=[32],[64,32]'" in out
    for command in ("reproduce RUN_ID", "runs", "ui", "report PARENT", "why PARENT",
                    "predict RUN_ID", "diff RUN_A RUN_B", "lr_find", "gradcheck"):
        assert f"  python -m nnexp.{command} " in out, command
    groups = out.split("== Config groups (group=option) ==\n", 1)[1]
    assert "optimizer: adam, adamw, momentum, nesterov, rmsprop, sgd\n" in groups
    assert "data: breast_cancer, circles, csv, digits" in groups
    assert "Hydra's own flags and settings: --hydra-help" in out
