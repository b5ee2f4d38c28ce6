"""nnexp: declarative neural-network experiments, a numpy engine, honest MLflow records.

From Python: `nnexp.compose(...)`, `nnexp.run(...)`, `nnexp.sweep(...)` (see `nnexp.api`),
imported on first use so that `import nnexp` stays cheap; the engine alone is `nnexp.engine`.
"""

from typing import Any

from nnexp.experiment import logs as _logs  # noqa: F401  (a run's lines print also where Hydra is absent)

__version__ = "0.1.0"
__all__ = ["RunResult", "SweepResult", "compose", "run", "sweep"]


def __getattr__(name: str) -> Any:
    """The Python API (`nnexp.api`), loaded when first used: it imports Hydra and OmegaConf."""
    if name in __all__:
        from nnexp import api

        return getattr(api, name)
    raise AttributeError(f"module 'nnexp' has no attribute {name!r}")
