"""nnexp: declarative neural-network experiments, a numpy engine, honest MLflow records."""

from nnexp import logs as _logs  # noqa: F401  (a run's lines print also where Hydra is absent)

__version__ = "0.1.0"
