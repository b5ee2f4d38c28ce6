"""nnexp: declarative neural-network experiments, a numpy engine, honest MLflow records."""

__version__ = "0.1.0"
