"""docs/your-network.md as written: its layer module is written out as the page gives it, each
of its `python -m nnexp.train` commands runs verbatim from that folder and does what the page
says (a console line shown, a refusal in one line with exit 2 and no run), its Python example
runs, and its refusal of a misspelt layer is the one the config check gives."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import REPO, all_runs, clean_env, store_of

from nnexp.config import ConfigError, validate

PAGE = REPO / "docs" / "your-network.md"
MODULE = "# mylayers.py"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def _expected_after(command: str) -> str:
    """The ```text block that follows the ```bash block holding `command` (its output)."""
    text = PAGE.read_text()
    after = text.split(command, 1)[1]
    return re.search(r"```text\n(.*?)```", after, flags=re.DOTALL).group(1).strip()


def _commands() -> list[str]:
    return [line for block in _blocks("bash") for line in block.splitlines()
            if line.startswith("python -m nnexp.train")]


def test_every_command_of_the_page_does_what_it_says(tmp_path: Path, _migrated_store: Path):
    module = "\n".join(b for b in _blocks("python") if b.startswith(MODULE))
    (tmp_path / "mylayers.py").write_text(module)
    (tmp_path / "mlruns").mkdir()
    shutil.copy(_migrated_store, tmp_path / "mlruns" / "mlflow.db")
    commands = _commands()
    assert len(commands) == 5, commands
    for command in commands:
        runs_before = len(all_runs(store_of(tmp_path)))
        folders_before = sorted(tmp_path.rglob("outputs/**/*"))
        args = shlex.split(command)
        done = subprocess.run([sys.executable, *args[1:]], cwd=tmp_path, env=clean_env(),
                              capture_output=True, text=True, timeout=300)
        if "ForgetfulSwish" in command:
            assert done.returncode == 2, done.stderr
            assert done.stderr.strip() == _expected_after(command)  # one line, no traceback
            assert len(all_runs(store_of(tmp_path))) == runs_before  # no run
            assert sorted(tmp_path.rglob("outputs/**/*")) == folders_before  # no output folder
            continue
        assert done.returncode == 0, (command, done.stderr[-2000:])
        lines = done.stdout.splitlines()
        assert lines[0].startswith("model: 64 -> dense "), lines[0]
        assert len(all_runs(store_of(tmp_path))) == runs_before + 1
        if command == "python -m nnexp.train model=sequential train.epochs=5":
            assert "\n".join(lines[:2]) == _expected_after(command)


def test_the_python_example_runs(capsys):
    (example,) = [b for b in _blocks("python") if not b.startswith(MODULE)]
    exec(compile(example, str(PAGE), "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == ("4 -> dense 16 -> batchnorm -> relu -> dropout 0.2 -> dense 3 "
                          "(163 parameters)")
    running_mean = " ".join(printed[1:]).strip("[] ").split()  # numpy wraps long arrays
    assert len(running_mean) == 16 and any(float(v) != 0 for v in running_mean)


def test_the_misspelt_layer_refusal_is_the_config_checks(make_cfg):
    shown = next(b for b in _blocks("text") if "unknown layer 'dens'" in b).strip()
    cfg = make_cfg("model=sequential", "model.layers=[{dens: 128}]", fast=False)
    try:
        validate(cfg)
    except ConfigError as exc:
        assert shown == f"nnexp.train: error: {exc}"
    else:
        raise AssertionError("a misspelt layer was accepted")
