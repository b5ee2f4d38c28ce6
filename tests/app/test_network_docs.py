"""docs/your-network.md as written: its layer module is written out as the page gives it, each
of its `python -m nnexp.train` commands runs verbatim from that folder and does what the page
says (a console line shown, a refusal in one line with exit 2 and no run), its Python example
runs, and its refusal of a misspelt layer is the one the config check gives.

One interpreter started in that folder runs the page's commands in order, as
tests/app/test_your_data_docs.py does: each line's `main()` with its arguments (the command
line's own code and exit code, without an interpreter start per line)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import REPO, clean_env

from nnexp.config import ConfigError, validate

PAGE = REPO / "docs" / "your-network.md"
MODULE = "# mylayers.py"

DRIVER = r"""
import contextlib, importlib, io, json, pathlib, shlex, sqlite3, sys
db = pathlib.Path.cwd() / "mlruns" / "mlflow.db"

def state():  # runs in the default experiment (read apart from the commands), output folders
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        runs = conn.execute("SELECT COUNT(*) FROM runs JOIN experiments USING (experiment_id) "
                            "WHERE experiments.name = 'nnexp'").fetchone()[0]
    return runs, sorted(str(p) for p in pathlib.Path.cwd().rglob("outputs/**/*"))

results = []
for command in json.loads(sys.argv[1]):
    words = shlex.split(command)
    before, out, err, code = state(), io.StringIO(), io.StringIO(), 0
    sys.argv = [words[2], *words[3:]]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            importlib.import_module(words[2]).main()
        except SystemExit as exc:
            code = 0 if exc.code is None else exc.code
    results.append([command, code, out.getvalue(), err.getvalue(), before, state()])
print("RESULTS" + json.dumps(results))
"""


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
    assert all(shlex.split(c)[:3] == ["python", "-m", "nnexp.train"] for c in commands)
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], cwd=tmp_path,
                          env=clean_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.split("RESULTS", 1)[1])
    assert [r[0] for r in results] == commands
    for command, code, out, err, (runs_before, folders_before), (runs, folders) in results:
        if "ForgetfulSwish" in command:
            assert code == 2, err
            assert err.strip() == _expected_after(command)  # one line, no traceback
            assert runs == runs_before  # no run
            assert folders == folders_before  # no output folder
            continue
        assert code == 0, (command, err[-2000:])
        lines = out.splitlines()
        assert lines[0].startswith("model: 64 -> dense "), lines[0]
        assert runs == runs_before + 1
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
