"""System metrics of a run (CPU, memory, disk, network, GPUs MLflow finds) sampled by MLflow's own
monitor, for runs nnexp creates with a client (where `mlflow.start_run`'s switch never applies).

A sample is logged when the run starts and another when it ends, so a run of any length records
at least two, and every `MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL` seconds between (MLflow's
default 10 s; `MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING` averages that many samples per
point). They go to the store directly, not through the run's journal: a store that does not
answer loses them, never the run.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from nnexp.record.redact import redact

log = logging.getLogger(__name__)
STOP_SECONDS = 10.0  # the most a run's end waits for its last sample to reach the store


class SystemMetrics:
    """MLflow's SystemMetricsMonitor driven by a thread of ours: a sample at the start, one every
    interval, one at the end; any failure stops the sampling, never the run."""

    def __init__(self, uri: str, run_id: str) -> None:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        self.monitor = SystemMetricsMonitor(run_id, tracking_uri=uri)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="nnexp-system-metrics",
                                        daemon=True)

    def start(self) -> None:
        """Log the first sample and keep sampling in the background."""
        self._thread.start()

    def stop(self, wait_seconds: float = STOP_SECONDS) -> None:
        """Log the last sample and stop; waits at most `wait_seconds` for the store."""
        self._stop.set()
        self._thread.join(wait_seconds)

    def _sample(self) -> None:
        monitor = self.monitor
        interval = float(monitor.sampling_interval)
        per_point = max(1, int(monitor.samples_before_logging))
        try:
            self._publish()  # the start: a run shorter than the interval still has a sample
            taken = 0
            while not self._stop.wait(interval):
                monitor.collect_metrics()
                taken += 1
                if taken >= per_point:
                    monitor.publish_metrics(monitor.aggregate_metrics())
                    monitor.mlflow_logger.flush()
                    taken = 0
            self._publish()  # the end
        except Exception as exc:  # noqa: BLE001 - the store's errors have no common type
            log.warning(redact(f"note: system metrics stopped: {_first_line(exc)}"))

    def _publish(self) -> None:
        monitor = self.monitor
        monitor.collect_metrics()
        monitor.publish_metrics(monitor.aggregate_metrics())
        monitor.mlflow_logger.flush()


def start_system_metrics(uri: str, run_id: str) -> Any | None:
    """Sampling started for the run, or None (with a note) where MLflow's monitor cannot start."""
    try:
        sampler = SystemMetrics(uri, run_id)
        sampler.start()
    except Exception as exc:  # noqa: BLE001 - a missing metric source must not stop a run
        log.warning(redact(f"note: no system metrics: {_first_line(exc)}"))
        return None
    return sampler


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__
