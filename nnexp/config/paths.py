"""Where nnexp finds its configs, and the folder a command was started in.

The configs live in the top-level `conf/` folder of the source tree; a built wheel carries
them as `nnexp/conf/` (pyproject maps one onto the other), so both layouts are looked for.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # nnexp/
PRIMARY_CONFIG = "config.yaml"


def conf_dir() -> Path:
    """The folder Hydra composes from: `nnexp/conf` in an installed wheel, else `conf/` beside
    the package (a source checkout: editable installs and PYTHONPATH runs)."""
    candidates = (_PACKAGE_DIR / "conf", _PACKAGE_DIR.parent / "conf")
    for candidate in candidates:
        if (candidate / PRIMARY_CONFIG).is_file():
            return candidate
    raise FileNotFoundError(
        f"nnexp's configs are missing: no {PRIMARY_CONFIG} in {' or '.join(map(str, candidates))}"
        "; reinstall nnexp")


def group_options(group: str) -> list[str]:
    """The options of a config group in Hydra's config search path: the running app's (with
    --config-dir and hydra.searchpath), else the package's conf/."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return sorted(GlobalHydra.instance().config_loader().get_group_options(group))
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return sorted(GlobalHydra.instance().config_loader().get_group_options(group))


def launch_dir() -> Path:
    """The folder the command was started in, also inside a job that Hydra moved into its
    output folder (`hydra.job.chdir=true`), so that relative paths keep their meaning."""
    cwd = Path.cwd()
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    if HydraConfig.initialized():
        # Hydra leaves its config set after a job ends: trust it only while we are in its folder.
        runtime = HydraConfig.get().runtime
        output_dir = OmegaConf.select(runtime, "output_dir", default=None)
        if output_dir and runtime.cwd and _same(Path(output_dir), cwd):
            return Path(runtime.cwd)
    return cwd


def from_launch_dir(path: str | os.PathLike[str], base: Path | None = None) -> str:
    """`path` made absolute against the launch folder (or `base`); absolute paths unchanged."""
    expanded = Path(path).expanduser()
    if expanded.is_absolute():
        return str(expanded)
    return str((base or launch_dir()) / expanded)


def user_cache_dir() -> Path:
    """nnexp's per-user cache, `$XDG_CACHE_HOME/nnexp` (else `~/.cache/nnexp`): material nnexp
    makes for a user (the demo's pictures) lives there, outside every project, so no git
    repository records it as a change of the runs made in it."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path("~/.cache").expanduser()
    return root / "nnexp"


def in_cache(name: str) -> str:
    """`${nnexp.cache:name}` in a config: the folder `name` in nnexp's per-user cache."""
    return str(user_cache_dir() / name)


def git_work_tree(folder: Path) -> Path | None:
    """The top of the git work tree holding `folder` (or the nearest folder above it that
    exists), or None."""
    here = folder.expanduser().resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
