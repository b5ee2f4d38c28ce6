"""What a run must record to be repeated: source state, versions, host and BLAS (after Sacred).

Also compares a recorded provenance with the current one, for `nnexp.reproduce` and `nnexp.diff`.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from nnexp.record import tags
from nnexp.record.redact import redact

PACKAGES = ("nnexp", "numpy", "mlflow", "hydra-core", "omegaconf", "scikit-learn", "pillow")
SOURCE_DIR = Path(__file__).resolve().parents[2]
MAX_UNTRACKED_BYTES = 1_000_000  # larger untracked files are listed in the patch, not included



def _git(*args: str, ok_codes: tuple[int, ...] = (0,)) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=SOURCE_DIR, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode in ok_codes else None


def _untracked_patch() -> str:
    """Untracked (not ignored) files as a patch: new source files change results too."""
    listed = _git("ls-files", "--others", "--exclude-standard", "-z") or ""
    parts = []
    for name in sorted(filter(None, listed.split("\0"))):
        path = SOURCE_DIR / name
        if not path.is_file() or path.stat().st_size > MAX_UNTRACKED_BYTES:
            parts.append(f"# untracked file not included (too large or not a file): {name}\n")
            continue
        parts.append(_git("diff", "--no-index", "--binary", "--", "/dev/null", name,
                          ok_codes=(0, 1)) or f"# untracked file unreadable: {name}\n")
    return "".join(parts)


def git_state() -> dict[str, str | None]:
    """Commit and branch of nnexp's source tree, whether it differs from the commit, and how.

    Dirty means tracked changes or untracked, non-ignored files; the diff includes both.
    """
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "branch": None, "dirty": None, "diff": None}
    diff = (_git("diff", "HEAD", "--binary") or "") + _untracked_patch()
    branch = (_git("rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None
    return {"commit": commit.strip(), "branch": branch,
            "dirty": str(bool(diff.strip())).lower(), "diff": diff}


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


def provenance_tags(command: list[str] | None = None) -> tuple[dict[str, str], str | None]:
    """MLflow tags describing source, versions and host; and the git diff when the tree is dirty."""
    command = list(command if command is not None else sys.argv)
    git = git_state()
    found = {f"{tags.VERSION_PREFIX}{k}": v for k, v in versions().items()}
    found.update({
        tags.PLATFORM: platform.platform(),
        tags.HOST: platform.node(),
        tags.BLAS: blas_info(),
        tags.COMMAND: " ".join(command),
        tags.MLFLOW_SOURCE_NAME: source_name(command),
        tags.MLFLOW_SOURCE_TYPE: "LOCAL",
        tags.MLFLOW_USER: _user(),
    })
    # as it will be logged (credentials masked), so the artifact and its hash agree
    diff = redact(git["diff"]) if git["dirty"] == "true" and git["diff"] else None
    if git["commit"]:
        found[tags.MLFLOW_GIT_COMMIT] = git["commit"]
        found[tags.GIT_DIRTY] = git["dirty"] or "unknown"
        if git["branch"]:
            found[tags.MLFLOW_GIT_BRANCH] = git["branch"]
        if diff:
            found[tags.GIT_DIFF_SHA] = hashlib.sha256(diff.encode()).hexdigest()
    else:
        found[tags.GIT_DIRTY] = "unknown (not a git checkout)"
    return found, diff


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
