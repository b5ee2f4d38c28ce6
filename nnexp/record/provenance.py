"""What a run must record to be repeated: the user's project's git state (record/source_state.py),
nnexp's own version and commit, package versions, host and BLAS (after Sacred).

Also compares a recorded provenance with the current one, for `nnexp.reproduce` and `nnexp.diff`.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

from nnexp.config.paths import launch_dir
from nnexp.record import tags
from nnexp.record.redact import redact
from nnexp.record.source_state import SourceState, git, project_dir, source_state

PACKAGES = ("nnexp", "numpy", "mlflow", "hydra-core", "omegaconf", "scikit-learn", "pillow")
SOURCE_DIR = Path(__file__).resolve().parents[2]
NO_REPOSITORY = "unknown (not in a git repository)"


@functools.lru_cache(maxsize=1)
def nnexp_source() -> dict[str, str]:
    """nnexp's own commit and dirty flag when it runs from a git checkout of itself (an editable
    install or PYTHONPATH), else nothing: its version tag says which release it is."""
    top = git(SOURCE_DIR, "rev-parse", "--show-toplevel")
    commit = git(SOURCE_DIR, "rev-parse", "--verify", "HEAD")
    if top is None or commit is None or Path(top.strip()).resolve() != SOURCE_DIR:
        return {}  # a wheel inside someone else's repository is not a checkout of nnexp
    status = git(SOURCE_DIR, "status", "--porcelain", "--untracked-files=normal")
    return {tags.NNEXP_SOURCE_COMMIT: commit.strip(),
            tags.NNEXP_SOURCE_DIRTY: "unknown" if status is None else str(bool(status)).lower()}


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """Versions of python and of every package a result depends on."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def blas_info() -> str:
    """numpy's BLAS library and its threads: sums may be ordered differently elsewhere.

    Only numpy's own pool counts (scipy, loaded by scikit-learn, may bring a second one).
    """
    import numpy as np  # threadpoolctl only sees a BLAS that is already loaded

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return str(np.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {}))
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    numpy_dir = str(Path(np.__file__).resolve().parent)
    own = [p for p in pools  # wheels keep it in numpy.libs/, other builds inside numpy/
           if str(p.get("filepath", "")).startswith((numpy_dir + ".libs", numpy_dir + os.sep))]
    return "; ".join(f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')} "
                     f"threads={p.get('num_threads')}" for p in (own or pools)) or "unknown"


def blas_threads(blas: str) -> int | None:
    """The thread count recorded in an `nnexp.blas` tag, if there is exactly one BLAS pool."""
    counts = [part.rsplit("threads=", 1)[1] for part in blas.split("; ") if "threads=" in part]
    return int(counts[0]) if len(counts) == 1 and counts[0].isdigit() else None


def source_name(command: list[str]) -> str:
    """The entry point for `mlflow.source.name`: the module of `python -m X`, else the script."""
    if "-m" in command[:-1]:
        return command[command.index("-m") + 1]
    return Path(command[0]).name if command else "unknown"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def provenance_tags(command: list[str] | None = None, folder: Path | None = None
                    ) -> tuple[dict[str, str], str | None]:
    """MLflow tags describing the user's project (the git state of `folder`, by default the one
    the command runs in), nnexp itself, versions and host; and the diff when the tree is dirty."""
    command = list(command if command is not None else sys.argv)
    found = {f"{tags.VERSION_PREFIX}{k}": v for k, v in versions().items()}
    found.update(nnexp_source())
    found.update({
        tags.PLATFORM: platform.platform(),
        tags.HOST: platform.node(),
        tags.BLAS: blas_info(),
        tags.COMMAND: " ".join(command),
        tags.MLFLOW_SOURCE_NAME: source_name(command),
        tags.MLFLOW_SOURCE_TYPE: "LOCAL",
        tags.MLFLOW_USER: _user(),
    })
    state = source_state(folder or project_dir(command, launch_dir()))
    git_tags, diff = _git_tags(state)
    return {**found, **git_tags}, diff


def _git_tags(state: SourceState) -> tuple[dict[str, str], str | None]:
    """The project's git tags (MLflow's names where MLflow has them) and the diff to log."""
    if state.root is None:
        return {tags.GIT_DIRTY: NO_REPOSITORY}, None
    found = {tags.GIT_DIRTY: str(state.dirty).lower()}
    if state.commit:
        found[tags.MLFLOW_GIT_COMMIT] = state.commit
    else:
        found[tags.GIT_DIRTY] = "unknown (a git repository without a commit)"
    if state.branch:
        found[tags.MLFLOW_GIT_BRANCH] = state.branch
    if state.repo_url:
        found[tags.MLFLOW_GIT_REPO_URL] = redact(state.repo_url)
    if state.untracked:
        found[tags.GIT_UNTRACKED] = _listed(state.untracked)
    if state.notes:
        found[tags.GIT_DIFF_NOTE] = "; ".join(state.notes)[:tags.MAX_VALUE_CHARS]
    # as it will be logged (credentials masked), so the artifact and its hash agree
    diff = redact(state.diff) if state.diff else None
    if diff:
        found[tags.GIT_DIFF_SHA] = hashlib.sha256(diff.encode()).hexdigest()
    return found, diff


def _listed(names: list[str]) -> str:
    """`a.py, data/b.csv` within the tag's limit, with how many did not fit."""
    text = ", ".join(names)
    if len(text) <= tags.MAX_VALUE_CHARS:
        return text
    cut = text[:tags.MAX_VALUE_CHARS - 40].rsplit(", ", 1)[0]
    return f"{cut}, ... and {len(names) - cut.count(', ') - 1} more"


def provenance_differences(recorded: dict[str, str], current: dict[str, str]
                           ) -> list[tuple[str, str | None, str | None]]:
    """(tag, recorded, current) for each determining tag that differs: commit, diff, versions, BLAS.

    A tag that only one side has counts as a difference, except that a clean tree has no diff hash.
    """
    keys = set(tags.DETERMINING) | {k for k in (*recorded, *current)
                                    if k.startswith(tags.VERSION_PREFIX)}
    differences = []
    for key in sorted(keys):
        a, b = recorded.get(key), current.get(key)
        if a != b and not (key == tags.GIT_DIFF_SHA and None in (a, b)
                           and recorded.get(tags.GIT_DIRTY) != current.get(tags.GIT_DIRTY)):
            differences.append((key, a, b))
    return differences
