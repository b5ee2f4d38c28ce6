"""What a run must record to be repeated: source state, versions, host and BLAS (after Sacred)."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("nnexp", "numpy", "mlflow", "hydra-core", "omegaconf", "scikit-learn", "pillow")
SOURCE_DIR = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=SOURCE_DIR, capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def git_state() -> dict[str, str | None]:
    """Commit of nnexp's source tree, whether tracked files differ from it, and that diff."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "diff": None}
    diff = _git("diff", "HEAD") or ""
    return {"commit": commit.strip(), "dirty": str(bool(diff.strip())).lower(), "diff": diff}


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
    """The BLAS library numpy runs on and its threads: sums may be ordered differently elsewhere."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        import numpy as np

        return str(np.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {}))
    pools = [f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')} "
             f"threads={p.get('num_threads')}"
             for p in threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(pools) or "unknown"


def provenance_tags(command: list[str] | None = None) -> tuple[dict[str, str], str | None]:
    """MLflow tags describing source, versions and host; and the git diff when the tree is dirty."""
    git = git_state()
    tags = {f"nnexp.version.{k}": v for k, v in versions().items()}
    tags.update({
        "nnexp.platform": platform.platform(),
        "nnexp.host": platform.node(),
        "nnexp.blas": blas_info(),
        "nnexp.command": " ".join(command if command is not None else sys.argv),
        "mlflow.source.name": "nnexp.train",
        "mlflow.source.type": "LOCAL",
    })
    if git["commit"]:
        tags["mlflow.source.git.commit"] = git["commit"]
        tags["nnexp.git.dirty"] = git["dirty"] or "unknown"
    else:
        tags["nnexp.git.dirty"] = "unknown (not a git checkout)"
    return tags, (git["diff"] if git["dirty"] == "true" else None)
