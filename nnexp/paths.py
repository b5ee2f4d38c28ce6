"""Where nnexp finds its configs.

The configs live in the top-level `conf/` folder of the source tree; a built wheel carries
them as `nnexp/conf/` (pyproject maps one onto the other), so both layouts are looked for.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
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
    """The options of a config group, from the files in conf/<group>/."""
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))
