"""Buffered metric logging: values pile up in memory and go to MLflow in batches."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

MAX_BATCH = 1000  # MLflow's limit of metrics in one log_batch call


class MetricBuffer:
    """Collects (key, value, step) points and sends them with `log_batch` every few seconds.

    One `log_metric` call costs ~4.5 ms on SQLite; a batch of 1000 costs ~70 ms, so batching
    keeps tracking off the training hot path. `flush()` must run before the run ends.
    Writes are synchronous: MLflow's background writer (`synchronous=False`) was measured 20 %
    slower on a 4 s job, its SQLAlchemy work competing with the training loop for the GIL.
    """

    def __init__(self, client: Any | None, run_id: str | None, flush_every_s: float = 30.0
                 ) -> None:
        self.client = client
        self.run_id = run_id
        self.flush_every_s = flush_every_s
        self._pending: list[Any] = []
        self._last_flush = time.monotonic()
        self.history: dict[str, list[tuple[int, float]]] = {}

    def add(self, key: str, value: float, step: int) -> None:
        value = float(value)
        if self.client is not None:
            self._pending.append((key, value, int(time.time() * 1000), step))
        self.history.setdefault(key, []).append((step, value))

    def add_many(self, values: Mapping[str, float], step: int) -> None:
        for key, value in values.items():
            self.add(key, value, step)
        if time.monotonic() - self._last_flush > self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        """Send every pending point; called periodically, at the end, and on any failure."""
        from mlflow.entities import Metric

        while self._pending:
            chunk = [Metric(*point) for point in self._pending[:MAX_BATCH]]
            self.client.log_batch(self.run_id, metrics=chunk)
            del self._pending[:MAX_BATCH]
        self._last_flush = time.monotonic()
