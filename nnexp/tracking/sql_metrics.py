"""Metric values written to an SQL store (SQLite, PostgreSQL) in one INSERT, not one ORM object
each.

MLflow's `log_batch` makes an ORM object of every value and flushes them one by one through
SQLAlchemy's unit of work: about 100-200 µs a value, in the writer thread, under the GIL that the
training thread needs. Here the same rows go into MLflow's own `metrics` table as one
executemany (about 15 µs a value), and the run's latest values are updated by MLflow's own code
from each key's latest candidate, which is all that code keeps of a batch. The rows are those
MLflow would write (its sanitising of NaN and infinities, its checks of the run and the keys);
a batch MLflow would treat differently (a value the store has already, another store, a later
MLflow without these parts) goes through `log_batch` as before.
"""

from __future__ import annotations

from typing import Any

Point = tuple[str, float, int, int]  # key, value, timestamp ms, step


def sql_store(client: Any) -> Any | None:
    """The MLflow SQLAlchemy store behind `client`, or None (a server, a test's fake client)."""
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    if store is None or type(store).__name__ != "SqlAlchemyStore":
        return None
    needed = ("ManagedSessionMaker", "_get_run", "_check_run_is_active", "sanitize_metric_value",
              "_update_latest_metrics_if_necessary")
    return store if all(hasattr(store, name) for name in needed) else None


def insert_metrics(store: Any, run_id: str, points: list[Point]) -> bool:
    """Write `points` to the run in one transaction; False (nothing written) when they need
    MLflow's own path: a value the store holds already, or a point of another type than
    MLflow's checks let through. Store errors are raised as `log_batch` raises them."""
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.dbmodels.models import SqlMetric
    from mlflow.tracking.fluent import get_active_model_id

    if not points or not _plain(points) or get_active_model_id() is not None:
        return not points  # MLflow links every value to a user's active model: its path
    _check_keys(points)
    rows, latest = _rows(store, run_id, points)
    try:
        with store.ManagedSessionMaker(read_only=False) as session:
            store._check_run_is_active(store._get_run(run_uuid=run_id, session=session))
            session.execute(SqlMetric.__table__.insert(), rows)
            store._update_latest_metrics_if_necessary(
                [SqlMetric(**row) for row in latest.values()], session)
    except MlflowException as exc:
        if isinstance(exc.__cause__, sqlalchemy.exc.IntegrityError):
            return False  # a value already there: MLflow's path skips it
        raise
    return True


def _plain(points: list[Point]) -> bool:
    """Every point a str key, a float value, a time >= 0 and a step, both int: what nnexp
    sends (anything else goes through MLflow's own conversions and checks)."""
    return all(type(key) is str and type(value) is float and type(time) is int and time >= 0
               and type(step) is int for key, value, time, step in points)


def _check_keys(points: list[Point]) -> None:
    """MLflow's checks of a metric, once per key (the rest is its checks of the types)."""
    from mlflow.utils.validation import _validate_metric

    first: dict[str, Point] = {}
    for point in points:
        first.setdefault(point[0], point)
    for key, value, time, step in first.values():
        _validate_metric(key, value, time, step)


def _rows(store: Any, run_id: str, points: list[Point]
          ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The `metrics` rows MLflow would insert, and each key's first row with the highest
    (step, timestamp, value): the only one of a batch that can become the run's latest value."""
    rows, latest = [], {}
    sanitize = store.sanitize_metric_value
    for key, value, time, step in points:
        is_nan, stored = sanitize(value)
        row = {"run_uuid": run_id, "key": key, "value": stored, "timestamp": time, "step": step,
               "is_nan": is_nan}
        rows.append(row)
        best = latest.get(key)
        if best is None or (step, time, stored) > (best["step"], best["timestamp"],
                                                   best["value"]):
            latest[key] = row
    return rows, latest
