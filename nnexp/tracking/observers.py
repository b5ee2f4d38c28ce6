"""The observers a command's run reports to: the MLflow run when tracking is on, and the console
when the run should talk. Made here, above the run, so the run never picks a store."""

from __future__ import annotations

from omegaconf import DictConfig

from nnexp.config.tracking_checks import system_metrics_wanted
from nnexp.experiment.console import ConsoleObserver
from nnexp.experiment.observer import Observers, RunObserver
from nnexp.tracking.mlflow_observer import MlflowObserver


def make_observer(cfg: DictConfig, uri: str | None, verbose: bool, *,
                  remember_store: bool = True, sweep_child: bool = False) -> RunObserver:
    """The MLflow observer when `uri` is set, and the console when `verbose`.
    `remember_store`: list the store in the launch folder's mlruns/stores.json (commands do;
    the Python API leaves the caller's folder alone, as MLflow does). `sweep_child`: the run is
    a job of an nnexp sweep, whose model follows `tracking.full_model`; any other run (nested
    in a run of the user's own too) logs the full model unless that says never."""
    store = None
    full_model = cfg.tracking.full_model
    if not sweep_child and full_model != "never":
        full_model = "always"
    if uri is not None:
        store = MlflowObserver(uri, budget=cfg.tracking.metric_budget,
                               retry_seconds=cfg.tracking.retry_seconds,
                               start_wait_seconds=cfg.tracking.start_wait_seconds,
                               remember_store=remember_store,
                               system_metrics=system_metrics_wanted(cfg.tracking),
                               full_model=full_model)
    return Observers(*([store] if store else []), *([ConsoleObserver(store)] if verbose else []))


def mlflow_observer_of(observer: RunObserver) -> MlflowObserver | None:
    """The MLflow observer among those `make_observer` made, if any."""
    members = observer.observers if isinstance(observer, Observers) else (observer,)
    return next((o for o in members if isinstance(o, MlflowObserver)), None)
