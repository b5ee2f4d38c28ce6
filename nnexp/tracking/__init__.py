"""Everything nnexp writes to MLflow: the store, a run's lifecycle, metrics, artifacts, sweeps.

The tracker receives numbers, arrays and files; it knows nothing of the engine's internals.
"""
