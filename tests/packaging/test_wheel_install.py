"""nnexp as a normal package: a wheel built from the source tree and installed into a fresh venv
trains from an empty folder, and its console scripts answer Hydra's shell completion."""

from __future__ import annotations

import fcntl
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import all_runs, clean_env

from nnexp.config.paths import group_options

REPO = Path(__file__).resolve().parents[2]
BUILD_INPUTS = ("pyproject.toml", "README.md", "nnexp", "conf")
SCRIPTS = ("nnexp-train", "nnexp-gradcheck", "nnexp-reproduce", "nnexp-diff", "nnexp-predict",
           "nnexp-runs", "nnexp-ui", "nnexp-demo", "nnexp-lr-find", "nnexp-server", "nnexp-report",
           "nnexp-why")


def _env() -> dict[str, str]:
    """No PYTHONPATH: the venv must import nnexp from the wheel, not from this checkout."""
    env = clean_env()
    env.pop("PYTHONPATH", None)
    return env


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, env={**_env(), **env}, capture_output=True, text=True,
                          timeout=240)
    return proc


def _visible_site_dirs() -> list[str]:
    """This interpreter's site directories (a venv's, the system's, the user's), in the order it
    searches them: wherever the suite was installed from, the packages under test are there."""
    candidates = {*site.getsitepackages(), site.getusersitepackages()}
    return [path for path in sys.path if path in candidates and Path(path).is_dir()]


def _build(root: Path) -> None:
    """Wheel from a copy of the build inputs (a build writes build/ and *.egg-info beside its
    sources), then a venv with only nnexp installed that sees this interpreter's site directories.

    Not `--system-site-packages`: from a user's venv that shows the base interpreter's packages,
    not the venv's. A .pth file of plain directories appends them after the venv's own
    site-packages (so the wheel's nnexp comes first) without running the .pth files in them (so
    an editable nnexp of this checkout does not come in)."""
    src = root / "src"
    for name in BUILD_INPUTS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, src / name)
    venv = root / "venv"
    steps = [
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"),
         str(src)],
        [sys.executable, "-m", "venv", "--without-pip", str(venv)],
    ]
    for step in steps:
        proc = _run(step, root)
        assert proc.returncode == 0, proc.stderr
    python = str(venv / "bin" / "python")
    where = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], root)
    assert where.returncode == 0, where.stderr
    dirs = _visible_site_dirs()
    Path(where.stdout.strip(), "_nnexp_test_deps.pth").write_text("\n".join(dirs) + "\n")
    (wheel,) = (root / "dist").glob("nnexp-*.whl")
    proc = _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                 "--ignore-installed", str(wheel)], root)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build folder (dist/, venv/), made once per test session, shared by xdist workers."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, common to all workers
    root = base / "nnexp-wheel"
    with open(base / "nnexp-wheel.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "done").exists():
            shutil.rmtree(root, ignore_errors=True)
            _build(root)
            (root / "done").touch()
    return root


def test_wheel_carries_every_module_and_config(installed):
    (wheel,) = (installed / "dist").glob("nnexp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "nnexp").rglob("*.py")}
    configs = {"nnexp/conf/" + p.relative_to(REPO / "conf").as_posix()
               for p in (REPO / "conf").rglob("*.yaml")}
    assert modules <= names, sorted(modules - names)
    assert configs <= names, sorted(configs - names)
    assert "nnexp/conf/config.yaml" in configs


def test_fresh_venv_trains_from_an_empty_folder(installed, tmp_path):
    python = str(installed / "venv" / "bin" / "python")
    where = _run([python, "-c", "import nnexp, nnexp.config.paths; print(nnexp.__file__); "
                  "print(nnexp.config.paths.conf_dir())"], tmp_path)
    assert where.returncode == 0, where.stderr
    site = installed / "venv" / "lib"
    package, conf = (Path(line) for line in where.stdout.splitlines())
    assert package.is_relative_to(site) and conf == package.parent / "conf"

    proc = _run([python, "-m", "nnexp.train", "train.epochs=1", "model.hidden=[8]"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-3].startswith("done in ")
    (run,) = all_runs(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    assert run.info.status == "FINISHED" and run.data.params["model.hidden"] == "[8]"


def test_console_scripts_are_installed_and_load(installed, tmp_path):
    bin_dir = installed / "venv" / "bin"
    assert all((bin_dir / name).is_file() for name in SCRIPTS)
    load = ("from importlib.metadata import entry_points\n"
            "eps = entry_points(group='console_scripts')\n"
            "ours = [e for e in eps if e.name.startswith('nnexp')]\n"
            "print(sorted(e.name for e in ours if callable(e.load())))")
    proc = _run([str(bin_dir / "python"), "-c", load], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(sorted(SCRIPTS))


def _complete(installed: Path, line: str, cwd: Path) -> list[str]:
    """What Hydra's bash completion offers: the app called with `-sc query=bash` and COMP_LINE."""
    program = installed / "venv" / "bin" / line.split()[0]
    proc = _run([str(program), "-sc", "query=bash"], cwd, COMP_LINE=line,
                COMP_POINT=str(len(line)))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_shell_completion_of_the_console_scripts(installed, tmp_path):
    assert _complete(installed, "nnexp-train optimizer=", tmp_path) == [
        f"optimizer={o}" for o in group_options("optimizer")]
    assert {"model.hidden.", "model.activation=", "model.init=", "model.dtype="} <= set(
        _complete(installed, "nnexp-train model.", tmp_path))
    assert "data=moons" in _complete(installed, "nnexp-gradcheck lr=0.1 data=", tmp_path)

    # The whole protocol, as an interactive bash runs it after `eval "$(nnexp-train -sc ...)"`.
    script = ('eval "$(nnexp-train -sc install=bash)"\n'
              'COMP_LINE="nnexp-train optimizer=s"; COMP_POINT=${#COMP_LINE}; COMP_CWORD=1\n'
              'hydra_bash_completion\nprintf "%s\\n" "${COMPREPLY[@]}"\n')
    path = f"{installed / 'venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"
    proc = _run(["bash", "-c", script], tmp_path, PATH=path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["optimizer=sgd"]
