"""nnexp from Python (a notebook, a script): compose a config, run it, sweep it.

    import nnexp
    cfg = nnexp.compose("lr=0.1", "model.hidden=[32]")  # Hydra override syntax, checked
    result = nnexp.run(cfg)                              # one MLflow run: run_id, metrics, ...
    sweep = nnexp.sweep("lr=0.1,0.01", "train.epochs=5") # a parent run with a child per job
    nnexp.run(cfg, data=(X, y))                          # your arrays, or a DataFrame:
    nnexp.run(cfg, data=frame, target="price")           # (docs/your-data.md)

A run records where MLflow's own clients would: `tracking.uri` if set, else the store of
`mlflow.set_tracking_uri()` or MLFLOW_TRACKING_URI, else ./mlruns/mlflow.db; into
`tracking.experiment` if set, else the experiment `mlflow.set_experiment()` chose,
MLFLOW_EXPERIMENT_NAME, or `nnexp`. Inside `with mlflow.start_run():` the run (a sweep's parent)
is a child of the active run, in its experiment. Nothing is written to the working folder but
the default store, lines go through logging, and a mistake is an exception with a one-line
message (ConfigError, DataError, StoreError); nothing exits the interpreter.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from nnexp.config import ConfigError, diverged_objective, register_configs
from nnexp.config.paths import conf_dir, from_launch_dir, launch_dir
from nnexp.data import DataError
from nnexp.experiment.interrupts import RunInterrupted
from nnexp.experiment.loop import Diverged
from nnexp.experiment.observer import FAILED, FINISHED
from nnexp.record import tags
from nnexp.record.params import flatten
from nnexp.record.redact import redact
from nnexp.tracking.store import StoreError, absolute_store_uri, resolve_tracking_uri

log = logging.getLogger(__name__)
CONFIG_NAME = "config"
_HYDRA_LOCK = threading.RLock()


@dataclass(frozen=True)
class RunResult:
    """What one run gave: where it is recorded, how it ended, its final metrics."""

    run_id: str | None  # None when tracking.enabled=false
    status: str  # FINISHED, or FAILED for a diverged job of a sweep
    objective: float  # the value of sweep.objective (nan if the run did not log it)
    metrics: dict[str, float]  # the final values: val/*, test/*, train/loss
    model_uri: str | None = None  # models:/<id> for mlflow.pyfunc.load_model
    tracking_uri: str | None = None
    experiment: str | None = None
    reused: bool = False  # sweep.skip_finished answered with an earlier identical run
    kept_locally: str | None = None  # the store did not take the record: it waits here
    error: str | None = None


@dataclass(frozen=True)
class SweepResult:
    """A sweep: its parent run, every job's result in order, and the best by sweep.objective."""

    parent_run_id: str | None
    status: str
    runs: list[RunResult] = field(default_factory=list)
    best: RunResult | None = None
    objective: str = "val/loss"
    direction: str = "minimize"


# ---- composing ---------------------------------------------------------------------------------

# id(config) -> (the config, the overrides composed, its values then): what to record as its
# overrides, with any change made in Python since.
_COMPOSED: dict[int, tuple[weakref.ref[DictConfig], tuple[str, ...], dict[str, str]]] = {}


def compose(*overrides: str, config_name: str = CONFIG_NAME,
            config_dir: str | os.PathLike[str] | None = None) -> DictConfig:
    """The config `python -m nnexp.train <overrides>` would run, checked as the command checks
    it; ConfigError (one line) for any mistake. Edit it freely before `run`: the run records
    the changes as overrides. `config_dir`: a folder of your own configs (`model/mine.yaml`,
    ...), searched as `hydra.searchpath` would be; thread-safe (Hydra's state is global)."""
    with _hydra():
        _check_overrides(list(overrides))
        cfg = _compose([*overrides, *_searchpath(config_dir)], config_name)
    _remember(cfg, overrides)
    return cfg


def _searchpath(config_dir: str | os.PathLike[str] | None) -> list[str]:
    """`hydra.searchpath=[file://<abs config_dir>]`, or nothing; ConfigError for no folder."""
    if config_dir is None:
        return []
    folder = Path(from_launch_dir(config_dir))
    if not folder.is_dir():
        raise ConfigError(f"config_dir: '{folder}' is not a folder (give the folder that holds "
                          "your config groups, such as model/ or data/)")
    return [f"hydra.searchpath=[file://{folder}]"]


def _check_overrides(overrides: list[str], *, sweeps: bool = False) -> None:
    """A value list (`lr=0.1,0.01`) is a sweep: one config has one value per key. Hydra's own
    settings have no effect without Hydra's app: refused, but for hydra.searchpath."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as exc:
        raise _one_line(exc) from None
    for override in parsed:
        key = override.get_key_element().lstrip("+~")
        if key.startswith(("hydra.", "hydra/")) and key != "hydra.searchpath":
            raise ConfigError(f"{key}: Hydra's own settings (output folders, logging, launchers, "
                              "sweepers) do not apply from Python; only hydra.searchpath does "
                              "(use python -m nnexp.train for the others)")
        if override.is_sweep_override() and not sweeps:
            raise ConfigError(f"{override.get_key_element()}: '{override.get_value_string()}' "
                              "is a sweep (several values); a config has one value per key: "
                              "use nnexp.sweep(...), or quote a list: key=[a,b]")


@contextmanager
def _hydra() -> Iterator[None]:
    """Hydra initialised on nnexp's configs for the duration; a Hydra the caller had set up (an
    app, a notebook's own `initialize`) is put back afterwards."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    with _HYDRA_LOCK:  # one process-wide Hydra: threads take turns
        register_configs()
        outer = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
                yield
        finally:
            GlobalHydra.instance().clear()
            if outer is not None:
                GlobalHydra.instance().initialize(outer)


def _compose(overrides: list[str], config_name: str) -> DictConfig:
    """Compose and check one job, inside `_hydra()`; the config without Hydra's node."""
    from hydra import compose as hydra_compose

    from nnexp.config.preflight import validate_composed

    try:
        cfg = hydra_compose(config_name, overrides=overrides, return_hydra_config=True)
        validate_composed(cfg)
    except Exception as exc:
        raise _one_line(exc) from None
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def _one_line(exc: Exception) -> Exception:
    """A user mistake as an exception with a one-line message; anything else unchanged."""
    from nnexp.config.user_errors import describe_user_error

    if isinstance(exc, (ConfigError, DataError, StoreError)):
        return exc
    message = describe_user_error(exc)
    return ConfigError(message) if message else exc


def _values(cfg: DictConfig) -> dict[str, str]:
    return flatten(OmegaConf.to_container(cfg, resolve=False))  # type: ignore[arg-type]


def _remember(cfg: DictConfig, overrides: tuple[str, ...]) -> None:
    key = id(cfg)
    _COMPOSED[key] = (weakref.ref(cfg, lambda _ref: _COMPOSED.pop(key, None)), tuple(overrides),
                      _values(cfg))


def recorded_overrides(cfg: DictConfig) -> list[str]:
    """The overrides that give `cfg`: those it was composed with, then `key=value` for each
    value changed in Python since (`+key=` added, `~key` removed). A config not made by
    `compose` is compared with the default composition."""
    entry = _COMPOSED.get(id(cfg))
    if entry is not None and entry[0]() is cfg:
        given, before = list(entry[1]), entry[2]
    else:
        given, before = [], _values(compose())
    now = _values(cfg)
    edits = [f"{key}={value}" for key, value in now.items()
             if key in before and before[key] != value]
    edits += [f"+{key}={value}" for key, value in now.items() if key not in before]
    edits += [f"~{key}" for key in before if key not in now]
    return given + edits


# ---- where a run records -----------------------------------------------------------------------

def _record_where(cfg: DictConfig) -> str | None:
    """Set `cfg`'s tracking.uri and tracking.experiment to where the run will record, as MLflow's
    state says (see the module docstring); the active MLflow run's id, to nest under, or None."""
    if not cfg.tracking.enabled:
        return None
    mlflow = sys.modules.get("mlflow")  # not imported: no active run, no set_tracking_uri()
    active = mlflow.active_run() if mlflow is not None else None
    if cfg.tracking.uri is None and mlflow is not None and (
            active is not None or mlflow.is_tracking_uri_set()):
        cfg.tracking.uri = mlflow.get_tracking_uri()
    uri = resolve_tracking_uri(cfg.tracking.uri, probe=active is not None)
    cfg.tracking.uri = uri
    given = not OmegaConf.is_interpolation(cfg.tracking, "experiment")  # the schema's default
    if active is not None:
        experiment = _active_run_experiment(active, uri)
        if given and cfg.tracking.experiment != experiment:
            raise ConfigError(
                f"tracking.experiment: '{cfg.tracking.experiment}', but the active MLflow run "
                f"{active.info.run_id} is in experiment '{experiment}' and a child run shares "
                "its parent's experiment: leave tracking.experiment unset, or end the active run")
        cfg.tracking.experiment = experiment
        return active.info.run_id
    if not given:
        chosen = _experiment_mlflow_chose(uri)
        cfg.tracking.experiment = chosen or str(cfg.tracking.experiment)
    return None


def _active_run_experiment(active: Any, uri: str) -> str:
    """The name of the active run's experiment, read from the store the run will record in;
    ConfigError when that store does not hold the active run."""
    from nnexp.tracking.store import open_client

    client = open_client(uri)
    try:
        client.get_run(active.info.run_id)
    except Exception:
        raise ConfigError(
            f"tracking.uri: the active MLflow run {active.info.run_id} is not in {redact(uri)}, "
            "so the run cannot be its child: leave tracking.uri unset (the active run's store), "
            "or end the active run") from None
    return str(client.get_experiment(active.info.experiment_id).name)


def _experiment_mlflow_chose(uri: str) -> str | None:
    """The experiment `mlflow.set_experiment()` made active, if it is in the store at `uri`."""
    mlflow = sys.modules["mlflow"] if "mlflow" in sys.modules else None
    fluent = sys.modules.get("mlflow.tracking.fluent")
    experiment_id = getattr(fluent, "_active_experiment_id", None)  # MLflow's own module state
    if mlflow is None or not experiment_id:
        return None
    if absolute_store_uri(mlflow.get_tracking_uri()) != uri:
        return None
    from nnexp.tracking.store import open_client

    found = open_client(uri).get_experiment(experiment_id)
    return None if found is None else str(found.name)


# ---- running -----------------------------------------------------------------------------------

def run(config: DictConfig | str | None = None, *overrides: str, run_name: str | None = None,
        verbose: bool = True, config_dir: str | os.PathLike[str] | None = None,
        data: Any = None, target: str | None = None) -> RunResult:
    """Train one experiment and record it as one MLflow run; its result.

    `config` is a composed config (`compose(...)`, possibly edited) or, like the overrides after
    it, an override (`run("lr=0.1", "train.epochs=5")`). `data`: your own (X, y) numpy arrays or
    a pandas DataFrame with the column `target` to predict, instead of the config's data set.
    With `verbose`, a line per epoch and the results are logged. `config_dir` as for `compose`.
    A diverged run ends FAILED and raises Diverged (its `run_id` says which run); Ctrl-C ends the
    run KILLED and raises KeyboardInterrupt.
    """
    if isinstance(config, DictConfig):
        if overrides or config_dir is not None:
            raise TypeError("nnexp.run: give a composed config or overrides, not both "
                            "(nnexp.compose takes the overrides and config_dir)")
        cfg = config
    elif config is None or isinstance(config, str):
        cfg = compose(*([config] if config is not None else []), *overrides,
                      config_dir=config_dir)
    else:
        raise TypeError(f"nnexp.run: expected a DictConfig or override strings, got "
                        f"{type(config).__name__}")
    recorded = recorded_overrides(cfg)
    cfg = copy.deepcopy(cfg)  # the caller's config stays as it was
    with _given_data([cfg], data, target):
        _anchor(cfg)
        parent = _record_where(cfg)
        name = run_name or cfg.tracking.run_name or _run_name(recorded, None)
        return _run_one(cfg, name, recorded, parent, verbose=verbose, in_sweep=False)


@contextmanager
def _given_data(configs: list[DictConfig], data: Any, target: str | None) -> Iterator[None]:
    """The configs train on `data` given from Python (kept in this process, under its digest,
    while they run): data.name arrays or dataframe, data.digest its content's sha256."""
    if data is None:
        if target is not None:
            raise ConfigError("target: names the column to predict of data=<a DataFrame>; "
                              "give data= too (or set data.target for data=csv)")
        yield
        return
    from nnexp.data.in_memory import forget, give

    name, digest, _ = give(data)
    try:
        if name == "arrays" and target is not None:
            raise ConfigError("target: applies to a DataFrame; with data=(X, y) the target is y")
        for cfg in configs:
            with open_dict(cfg):
                cfg.data.name, cfg.data.digest, cfg.data.path = name, digest, None
                if target is not None:
                    cfg.data.target = target
        yield
    finally:
        forget(digest)


def _anchor(cfg: DictConfig) -> None:
    from nnexp.sweeps.job import anchor_paths

    anchor_paths(cfg, launch_dir())


def _run_name(overrides: list[str], swept: list[str] | None) -> str:
    from nnexp.sweeps.naming import child_run_name

    return redact(child_run_name(overrides, swept))


def _run_one(cfg: DictConfig, name: str, overrides: list[str], parent: str | None, *,
             verbose: bool, in_sweep: bool) -> RunResult:
    uri = cfg.tracking.uri if cfg.tracking.enabled else None
    from nnexp.sweeps.job import run_job
    from nnexp.tracking.observers import make_observer

    observer = make_observer(cfg, uri, verbose, remember_store=False, sweep_child=in_sweep)
    command = {tags.COMMAND: redact(" ".join(["nnexp.sweep" if in_sweep else "nnexp.run",
                                              *overrides]))}
    try:
        result = run_job(cfg, run_name=name, overrides=overrides, parent_run_id=parent,
                         extra_tags=command, verbose=verbose, observer=observer,
                         second_interrupt_kills=False)
    except Diverged as exc:
        exc.run_id = observer.run_id  # type: ignore[attr-defined]
        if not in_sweep:
            raise
        return RunResult(observer.run_id, FAILED, diverged_objective(cfg), {}, None, uri,
                         cfg.tracking.experiment, error=str(exc))
    except RunInterrupted as exc:
        if exc.signame != "SIGINT":
            raise
        where = f"; run {observer.run_id} ended KILLED" if observer.run_id else ""
        raise KeyboardInterrupt(f"{exc}{where}") from None
    except Exception as exc:
        converted = _one_line(exc)
        if converted is exc:
            raise
        raise converted from None
    return RunResult(result.run_id, FINISHED, result.objective, dict(result.metrics),
                     _model_uri(cfg, result), uri, cfg.tracking.experiment if uri else None,
                     result.reused, result.kept_locally)


def _model_uri(cfg: DictConfig, result: Any) -> str | None:
    """`models:/<id>` of the run's logged model (from the run's outputs), if it logged one."""
    if not (result.run_id and cfg.tracking.enabled and cfg.tracking.log_model) \
            or result.kept_locally:
        return None
    from nnexp.tracking.model import logged_model_uri
    from nnexp.tracking.store import open_client

    found = logged_model_uri(open_client(cfg.tracking.uri).get_run(result.run_id))
    return found or (None if result.pruned else f"runs:/{result.run_id}/model")  # a light one


# ---- sweeping ----------------------------------------------------------------------------------

def sweep(*overrides: str, verbose: bool = True,
          config_dir: str | os.PathLike[str] | None = None, data: Any = None,
          target: str | None = None) -> SweepResult:
    """Run every job of a sweep written as on the command line (`"lr=0.1,0.01"`, `"seed=range(3)"`,
    `"optimizer=glob(*)"`), one after another in this process, as one MLflow parent run with a
    child per job and the summary `python -m nnexp.train -m` writes. `data` and `target`: as
    for `run`, the same data for every job (kept in memory: the jobs run in this process).

    Every job is composed and checked before anything runs. A diverged job is a FAILED result
    and the sweep goes on; another error ends the parent FAILED and is raised; Ctrl-C ends the
    running job and the parent KILLED and raises KeyboardInterrupt. `verbose=False`: nothing is
    printed or logged. `config_dir` as for `compose`.
    """
    with _hydra():
        _check_overrides(list(overrides), sweeps=True)
        jobs = _expand(list(overrides))
        searchpath = _searchpath(config_dir)
        configs = [_compose([*job, *searchpath], CONFIG_NAME) for job in jobs]
    with _given_data(configs, data, target):
        return _sweep(configs, jobs, list(overrides), verbose)


def _sweep(configs: list[DictConfig], jobs: list[list[str]], overrides: list[str],
           verbose: bool) -> SweepResult:
    from nnexp.sweeps.naming import swept_keys

    keys = swept_keys(list(overrides), None)
    parents = []
    for cfg in configs:
        _anchor(cfg)
        parents.append(_record_where(cfg))
    objective, direction = _one_setting(configs, "sweep.objective"), _one_setting(configs,
                                                                                  "sweep.direction")
    tracked = _one_setting(configs, "tracking.enabled")
    parent = None
    if tracked:
        from nnexp.sweeps.callback import one_experiment

        one_experiment({cfg.tracking.experiment for cfg in configs})
        _one_setting(configs, "tracking.uri")
        parent = _start_parent(configs[0], keys, list(overrides), parents[0], objective,
                               direction, verbose)
    results = _run_jobs(configs, jobs, keys, parent, objective, verbose)
    if parent is None:
        return SweepResult(None, FINISHED, results, _best(results, None, direction), objective,
                           direction)
    status = parent.finish()
    best_id = parent.client.get_run(parent.run_id).data.tags.get(tags.BEST_RUN_ID)
    if verbose:
        log.info(f"sweep {status}: parent run {parent.run_id}, best {best_id}")
    return SweepResult(parent.run_id, status, results, _best(results, best_id, direction),
                       objective, direction)


def _run_jobs(configs: list[DictConfig], jobs: list[list[str]], keys: list[str], parent: Any,
              objective: str, verbose: bool) -> list[RunResult]:
    """Each job in turn; Ctrl-C ends the parent KILLED, another error ends it FAILED."""
    results: list[RunResult] = []
    name = ""
    try:
        for cfg, job in zip(configs, jobs, strict=True):
            name = cfg.tracking.run_name or _run_name(job, keys)
            result = _run_one(cfg, name, job, parent.run_id if parent else None,
                              verbose=False, in_sweep=True)
            results.append(result)
            if verbose and result.status == FINISHED:
                what = "reused" if result.reused else "run"
                log.info(f"[{name}] {objective} {result.objective:.4f}  {what} {result.run_id}")
            elif verbose:
                log.warning(redact(f"[{name}] {result.error}"))
    except (KeyboardInterrupt, RunInterrupted) as exc:
        if parent is not None:
            parent.finish(interrupted=getattr(exc, "signame", "SIGINT"))
        raise
    except BaseException as exc:
        if parent is not None:
            from nnexp.sweeps.naming import record_job_error

            record_job_error(parent.run_id, name, exc, configs[0].tracking.uri)
            parent.finish(job_raised=True)
        raise
    return results


def _expand(overrides: list[str]) -> list[list[str]]:
    """Every job's overrides, as Hydra's basic sweeper splits them (inside `_hydra()`)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    try:
        batches = BasicSweeper.split_arguments(parser.parse_overrides(overrides), None)
    except Exception as exc:
        raise _one_line(exc) from None
    return [list(job) for job in batches[0]]


def _one_setting(configs: list[DictConfig], key: str) -> Any:
    """The value every job has for `key`; ConfigError if the jobs differ (one sweep, one)."""
    values = {str(OmegaConf.select(cfg, key)) for cfg in configs}
    if len(values) > 1:
        raise ConfigError(f"{key}: this sweep's jobs have {len(values)} values "
                          f"({', '.join(sorted(values))}); a sweep has one: sweep over other keys")
    return OmegaConf.select(configs[0], key)


def _start_parent(cfg: DictConfig, keys: list[str], overrides: list[str], nest_under: str | None,
                  objective: str, direction: str, verbose: bool) -> Any:
    """The sweep's parent run (a child of the active MLflow run, if any), open."""
    from nnexp.sweeps.parent import SweepParent, create_parent_run
    from nnexp.tracking.run_lookups import experiment_id_once
    from nnexp.tracking.store import open_client

    uri = cfg.tracking.uri
    client = open_client(uri)
    experiment_id = experiment_id_once(client, cfg.tracking.experiment, uri)  # jobs ask no more
    from nnexp.sweeps.naming import distinct_name, sweep_name

    name = redact(sweep_name(overrides, None))
    run_id = create_parent_run(client, experiment_id, name, {
        tags.SWEEP_PARAMS: ",".join(keys),
        tags.SWEEP_OVERRIDES: redact(" ".join(overrides)),
        tags.SWEEP_SWEEPER: "nnexp.sweep (Hydra's basic sweeper grid)",
        tags.SWEEP_LAUNCHER: "in-process, sequential",
        tags.SWEEP_OBJECTIVE: objective,
        tags.SWEEP_DIRECTION: direction,
        tags.COMMAND: redact(" ".join(["nnexp.sweep", *overrides])),
        **tags.user_tags(cfg.tracking),
    }, list(sys.argv), nest_under)
    if verbose:
        log.info(f"sweep: parent run {run_id} ({distinct_name(name, run_id)})")
    # no signal handlers: Ctrl-C reaches the running job, and the parent ends here
    return SweepParent(client, run_id, keys, objective, direction, handle_signals=False,
                       console=verbose, full_best=cfg.tracking.full_model == "best")


def _best(results: list[RunResult], best_id: str | None, direction: str) -> RunResult | None:
    if best_id is not None:
        return next((r for r in results if r.run_id == best_id), None)
    usable = [r for r in results if r.status == FINISHED and math.isfinite(r.objective)]
    if not usable:
        return None
    pick = min if direction == "minimize" else max
    return pick(usable, key=lambda r: r.objective)
