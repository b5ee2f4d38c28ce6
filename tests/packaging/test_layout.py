"""The house by role holds: imports run only downward between nnexp's rooms and never in a circle
inside one (the import-linter contracts in pyproject.toml, imports inside functions included),
and no module or function grows past what a reader takes in at once."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import clean_env

REPO = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on the package found under `root` (its pyproject.toml's contracts)."""
    env = {**clean_env(), "PYTHONPATH": str(root)}
    code = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_import_contracts_hold():
    proc = _lint(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    # an import inside a function, from the run up into the sweeps
    ("nnexp/experiment/loop.py", "def _wrong():\n    from nnexp.sweeps import job  # noqa\n",
     "nnexp.experiment is not allowed to import nnexp.sweeps"),
    # a circle inside one room
    ("nnexp/data/raw.py", "from nnexp.data import loader  # noqa\n",
     "no circles between the modules of a room BROKEN"),
])
def test_a_wrong_arrow_breaks_the_contract(tmp_path, module, line, broken):
    for name in ("nnexp", "conf"):
        shutil.copytree(REPO / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / module, "a") as f:
        f.write("\n\n" + line)
    proc = _lint(tmp_path)
    assert proc.returncode == 1, proc.stdout
    assert broken in proc.stdout


def _sizes() -> tuple[list[str], list[str]]:
    long_modules, long_functions = [], []
    for path in sorted((REPO / "nnexp").rglob("*.py")):
        text = path.read_text()
        name = str(path.relative_to(REPO))
        if len(text.splitlines()) > MAX_MODULE_LINES and name != "nnexp/api.py":
            long_modules.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}:{node.name}: {length} lines")
    return long_modules, long_functions


def test_no_module_or_function_outgrows_a_reader():
    """api.py, the Python API in one page, may be longer (a split would scatter it)."""
    long_modules, long_functions = _sizes()
    assert not long_modules, long_modules
    assert not long_functions, long_functions
