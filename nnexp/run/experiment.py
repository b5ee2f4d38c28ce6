"""One experiment, end to end: config -> data -> network -> training loop, told to an observer.

Callable without Hydra (reproduce, tests and notebooks use it) and without MLflow: what records
the run is its observer (`nnexp.observer`); `nnexp.train` is its command line.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from nnexp.run import checkpoint as checkpoints
from nnexp import engine
from nnexp.run.build import (
    build_network,
    build_optimizer,
    build_schedule,
    choose_loss,
    load_data,
    make_observer,
    targets_for,
)
from nnexp.config import (
    BOOKKEEPING_SECTIONS,
    diverged_objective,
    to_container,
    validate,
    validate_for_data,
)
from nnexp.run.console import say
from nnexp.data import Dataset
from nnexp.run.history import MetricHistory
from nnexp.run.interrupts import RunInterrupted, RunStopped, interrupts_stop_run
from nnexp.run.line_fit import learned_line
from nnexp.run.loop import (
    Diverged,
    LoopResult,
    LoopSettings,
    LoopState,
    evaluate,
    predicted_classes,
    train_loop,
)
from nnexp.run.observer import (
    FAILED,
    FINISHED,
    KILLED,
    Observers,
    RunObserver,
    RunOutcome,
    RunPlan,
    RunStart,
)
from nnexp.sweep.pruning_rules import Pruned, Pruner, PruneSettings
from nnexp.record import plots, tags
from nnexp.tracking.model import META_ARTIFACT, WEIGHTS_ARTIFACT, model_meta, write_model_meta
from nnexp.record.params import flatten
from nnexp.record.provenance import provenance_tags
from nnexp.record.redact import redact
from nnexp.tracking.store import resolve_tracking_uri
from nnexp.run.verdict import diagnose, history_of
from nnexp.run.weight_hashes import HASHES_ARTIFACT, RecordedHashes, WeightHashes

IDENTITY_EXCLUDES = BOOKKEEPING_SECTIONS  # keys that never change the numbers


@dataclass
class ExperimentResult:
    run_id: str | None
    objective: float
    metrics: dict[str, float]
    loop: LoopResult
    reused: bool = False
    kept_locally: str | None = None  # the store did not take the record: it waits here
    pruned: Pruned | None = None  # stopped by sweep.prune
    resumed_from: str | None = None  # the stopped run this one continues (sweep.resume)
    skipped: str | None = None  # why no run was made (sweep.skip_lr_above)


def config_hash(config: dict[str, Any]) -> str:
    """Identity of an experiment: a hash of the resolved config minus tracking and sweep keys."""
    core = {k: v for k, v in config.items() if k not in IDENTITY_EXCLUDES}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]


def make_pruner(cfg: DictConfig, observer: RunObserver, parent_run_id: str | None,
                history: MetricHistory) -> Pruner | None:
    """The store-backed pruner `sweep.prune` asks for, in a sweep whose runs are recorded (a
    run outside a sweep has no siblings to be compared with); `history` holds what a continued
    run trained before its checkpoint."""
    if cfg.sweep.prune is None or parent_run_id is None:
        return None
    from nnexp.tracking.mlflow_observer import MlflowObserver
    from nnexp.sweep.store_pruner import StorePruner

    members = observer.observers if isinstance(observer, Observers) else (observer,)
    store = next((o for o in members if isinstance(o, MlflowObserver)), None)
    if store is None or store.experiment_id is None:
        return None
    s = cfg.sweep
    settings = PruneSettings(
        s.prune, s.objective, s.direction, warmup_epochs=s.prune_warmup_epochs,
        startup_runs=s.prune_startup_runs, min_siblings=s.prune_min_siblings,
        interval=s.prune_interval, min_epochs=s.prune_min_epochs,
        reduction_factor=s.prune_reduction_factor)
    from nnexp.tracking.store import open_client

    return StorePruner(settings, open_client(store.uri), store.experiment_id, parent_run_id,
                       lambda: store.run_id, store.record_tags,
                       earlier=history.series(s.objective)[1].tolist())


def _continue_from(resume: Any, identity: str, model: Any, optimizer: Any,
                   rng: np.random.Generator, verbose: bool) -> tuple[LoopState, str | None]:
    """Model, optimizer and rng as the checkpoint left them; the loop state to continue from
    and the run continued, or a fresh start (with a warning) when the checkpoint does not fit."""
    try:
        state = checkpoints.restore(resume.checkpoint, identity, model, optimizer, rng)
    except checkpoints.CheckpointError as exc:
        say(f"warning: cannot continue run {resume.run_id} ({exc}); training from the start",
            error=True)
        return LoopState(), None
    if verbose:
        say(f"continuing run {resume.run_id} from its checkpoint at epoch {state.epoch}")
    return state, resume.run_id


def run_experiment(
    cfg: DictConfig,
    *,
    run_name: str,
    overrides: list[str] | None = None,
    parent_run_id: str | None = None,
    hydra_dir: Path | None = None,
    extra_tags: dict[str, str] | None = None,
    verbose: bool = True,
    command: list[str] | None = None,
    observer: RunObserver | None = None,
    second_interrupt_kills: bool = True,
    pruner: Pruner | None = None,
    check_weights: RecordedHashes | None = None,
) -> ExperimentResult:
    """Validate, load data, build the network, train, and tell `observer` (by default the MLflow
    run and the console the config asks for) everything; return the objective and metrics.

    Every user mistake (config, data, store) is raised before the run is created. A first Ctrl-C
    ends the run KILLED; a second one kills the process, or raises KeyboardInterrupt with
    `second_interrupt_kills` false (a notebook's kernel). `pruner` is asked at each epoch's end
    whether to stop (by default, in a sweep with `sweep.prune`, the store's siblings decide).
    With `check_weights` (another run's weight hashes) training stops, raising WeightsDiffer, at
    the first step whose weights differ from that run's.
    """
    validate(cfg)
    config = to_container(cfg)
    identity = config_hash(config)
    uri = resolve_tracking_uri(cfg.tracking.uri, probe=False) if cfg.tracking.enabled else None
    if uri is not None and (cfg.sweep.skip_finished or cfg.sweep.resume):
        from nnexp.sweep.reuse import finished_run

        done = finished_run(uri, cfg.tracking.experiment, identity)
        if done is not None:
            return _reuse(done, cfg, uri, parent_run_id, verbose, run_name)
    resume = None
    if uri is not None and cfg.sweep.resume:
        from nnexp.sweep.resume import find_resume_point

        resume = find_resume_point(uri, cfg.tracking.experiment, identity,
                                   keep_pruned=cfg.sweep.prune is not None)
        if resume is not None and resume.checkpoint is None:
            return _reuse(resume.run, cfg, uri, parent_run_id, verbose, run_name,
                          resume.outcome)
    dataset = load_data(cfg)
    loss_name = choose_loss(cfg, dataset)
    validate_for_data(cfg, n_inputs=dataset.n_features, n_outputs=dataset.n_outputs,
                      n_train=dataset.X_train.shape[0],
                      n_eval=max(dataset.X_val.shape[0], dataset.X_test.shape[0]))
    if cfg.sweep.skip_lr_above is not None:
        from nnexp.lr_find import learning_rate_limit

        limit, source = learning_rate_limit(cfg, config, uri, dataset, parent_run_id,
                                            list(overrides or []), command)
        if limit is not None and cfg.lr > limit:
            return _skip(cfg, uri, parent_run_id, run_name, verbose,
                         f"lr={cfg.lr:g} is above {source}")
        extra_tags = {**(extra_tags or {}), tags.LR_LIMIT: source}
    rng = np.random.default_rng(cfg.seed)
    model = build_network(cfg, dataset, loss_name, rng)
    optimizer = build_optimizer(cfg, model)
    steps_per_epoch = math.ceil(dataset.X_train.shape[0] / cfg.train.batch_size)
    plan = RunPlan(total_steps=steps_per_epoch * cfg.train.epochs, epochs=cfg.train.epochs,
                   log_every_n_steps=cfg.tracking.log_every_n_steps)
    schedule = build_schedule(cfg, plan.total_steps)
    state, resumed_from = LoopState(), None
    if resume is not None and resume.checkpoint is not None:
        state, resumed_from = _continue_from(resume, identity, model, optimizer, rng, verbose)
    if resumed_from is not None:
        extra_tags = {**(extra_tags or {}), tags.RESUMED_FROM: resumed_from,
                      tags.RESUMED_AT_EPOCH: str(state.epoch)}
    start = _run_start(cfg, config, run_name, plan, dataset, loss_name, model, overrides,
                       parent_run_id, hydra_dir, extra_tags, command)
    if verbose:
        for note in dataset.notes:
            if "convert" in note:  # the user should know their images were changed
                say(f"note: {note}", error=True)
    observer = observer or make_observer(cfg, uri, verbose)
    history = MetricHistory(observer)
    if resumed_from is not None:
        assert resume is not None and resume.checkpoint is not None
        history.restore(resume.checkpoint.history)
    every = check_weights.every if check_weights else cfg.tracking.hash_every_n_steps
    if not (check_weights or observer.records_files):
        every = 0  # nowhere to keep them: no hashing in the step
    hashes = WeightHashes(model, every, check_weights, plan.total_steps) if every else None
    training = _Training(cfg, dataset, loss_name, model, optimizer, schedule, rng, history,
                         second_interrupt_kills, hashes)
    training.state, training.identity, training.resumed_from = state, identity, resumed_from
    with tempfile.TemporaryDirectory(prefix="nnexp-run-") as work:
        try:
            observer.started(start)
            if resumed_from is not None and uri is not None and observer.run_id is not None:
                from nnexp.sweep.resume import note_continuation

                note_continuation(uri, resumed_from, observer.run_id)
            training.pruner = pruner or make_pruner(cfg, observer, parent_run_id, history)
            return training.run(observer, Path(work))
        except Diverged as exc:
            history.flush()
            observer.ended(RunOutcome(FAILED, {
                tags.ERROR: f"Diverged: {exc}"[:tags.MAX_VALUE_CHARS],
                tags.LAST_COMPLETED_EPOCH: str(training.last_epoch), tags.DIVERGED: "true",
                tags.DIVERGED_PREFIX + "what": exc.what,
                **{tags.DIVERGED_PREFIX + k: v for k, v in exc.where.items()},
                **diagnose(history_of(history), {"what": exc.what, **exc.where}).tags()}))
            raise
        except (RunStopped, KeyboardInterrupt) as exc:
            history.flush()
            if observer.records_files and isinstance(exc, RunInterrupted):  # between two steps
                save_network(observer, model, dataset, loss_name, Path(work))
                training.save_hashes(observer, Path(work))
            observer.ended(RunOutcome(KILLED, {
                tags.STATUS_REASON: str(exc) or "interrupted (KeyboardInterrupt)",
                tags.LAST_COMPLETED_EPOCH: str(training.last_epoch),
                **diagnose(history_of(history)).tags()}))
            raise
        except BaseException as exc:
            history.flush()
            message = (str(exc).splitlines() or [type(exc).__name__])[0]
            observer.ended(RunOutcome(FAILED, {
                tags.ERROR: f"{type(exc).__name__}: {message}"[:tags.MAX_VALUE_CHARS],
                tags.LAST_COMPLETED_EPOCH: str(training.last_epoch)},
                traceback="".join(traceback.format_exception(exc))))
            raise


def _run_start(cfg: DictConfig, config: dict[str, Any], run_name: str, plan: RunPlan,
               dataset: Dataset, loss_name: str, model: Any, overrides: list[str] | None,
               parent_run_id: str | None, hydra_dir: Path | None,
               extra_tags: dict[str, str] | None, command: list[str] | None) -> RunStart:
    """What a run needs to be understood and repeated, known before training starts."""
    provenance, git_diff = provenance_tags(command)
    run_tags = {
        **provenance,
        tags.SEED: str(cfg.seed),
        tags.CONFIG_HASH: config_hash(config),
        tags.DTYPE: cfg.model.dtype,
        tags.DATA: dataset.name,
        tags.OVERRIDES: " ".join(overrides or []) or "(none)",
        **(extra_tags or {}),
    }
    if dataset.notes:
        run_tags[tags.DATA_NOTES] = "; ".join(dataset.notes)[:tags.MAX_VALUE_CHARS]
    params = flatten({**config, "dataset": dataset.summary()})
    params["train.loss_resolved"] = loss_name
    params["model.n_parameters"] = str(model.params.size)
    texts = {"config.yaml": OmegaConf.to_yaml(OmegaConf.create(config)),
             "overrides.yaml": OmegaConf.to_yaml(OmegaConf.create(list(overrides or [])))}
    if git_diff:
        texts["source/git_diff.patch"] = git_diff
    folders = {".hydra": hydra_dir} if hydra_dir is not None else {}
    return RunStart(run_name, cfg.tracking.experiment, plan, parent_run_id, run_tags, params,
                    texts, folders, dataset)


def _reuse(done: Any, cfg: DictConfig, uri: str, parent_run_id: str | None, verbose: bool,
           run_name: str, what: str = "FINISHED") -> ExperimentResult:
    """sweep.skip_finished, sweep.resume: answer with an earlier identical run (finished, or
    pruned or diverged: decisions and results that training again would repeat)."""
    from nnexp.sweep.reuse import note_reuse

    if parent_run_id:  # the sweep summary lists reused runs next to its children
        note_reuse(uri, parent_run_id, done.info.run_id, redact(run_name))
    metrics = dict(done.data.metrics)
    objective = metrics.get(cfg.sweep.objective, math.nan)
    if what == "diverged":  # what the sweeper got from it the first time
        objective = diverged_objective(cfg)
    if verbose:
        say(f"skipped: identical config already {what} as run {done.info.run_id} "
            f"({cfg.sweep.objective} {objective:.4f})")
    return ExperimentResult(done.info.run_id, objective, metrics, LoopResult(), reused=True)


def _skip(cfg: DictConfig, uri: str | None, parent_run_id: str | None, run_name: str,
          verbose: bool, reason: str) -> ExperimentResult:
    """sweep.skip_lr_above: no run; the sweep's parent says which job and why."""
    if parent_run_id and uri is not None:
        from nnexp.sweep.range_tests import note_skipped

        note_skipped(uri, parent_run_id, redact(run_name), reason)
    if verbose:
        say(f"skipped: {reason}; no run")
    return ExperimentResult(None, diverged_objective(cfg), {}, LoopResult(), skipped=reason)


def save_network(observer: RunObserver, model: Any, dataset: Dataset, loss_name: str,
                 folder: Path) -> Path:
    """Give the observer the network's weights and architecture (`weights.npz`) and what
    prediction needs besides them (`model_meta.json`): data only, no code. Returns the weights."""
    weights = folder / WEIGHTS_ARTIFACT
    engine.save_weights(model, weights)
    observer.artifact(weights)
    observer.artifact(write_model_meta(folder / META_ARTIFACT, dataset, loss_name))
    return weights


class _Training:
    """The training part of one experiment, and how far it got."""

    def __init__(self, cfg: DictConfig, dataset: Dataset, loss_name: str, model: Any,
                 optimizer: Any, schedule: Any, rng: np.random.Generator,
                 history: MetricHistory, second_interrupt_kills: bool = True,
                 hashes: WeightHashes | None = None) -> None:
        self.cfg, self.dataset, self.loss_name = cfg, dataset, loss_name
        self.model, self.optimizer, self.schedule, self.rng = model, optimizer, schedule, rng
        self.history, self.hashes = history, hashes
        self.second_interrupt_kills = second_interrupt_kills
        self.last_epoch = 0
        self.state = LoopState()  # where training starts (a checkpoint's, when continuing)
        self.identity = ""
        self.resumed_from: str | None = None
        self.pruner: Pruner | None = None
        self.pruned: Pruned | None = None

    def run(self, observer: RunObserver, work: Path) -> ExperimentResult:
        cfg, dataset, model = self.cfg, self.dataset, self.model
        loss_fn = engine.make_loss(self.loss_name)
        classify = dataset.task == "classification"
        y_train, y_val, y_test = (targets_for(self.loss_name, y, cfg.model.dtype)
                                  for y in (dataset.y_train, dataset.y_val, dataset.y_test))
        settings = LoopSettings(
            epochs=cfg.train.epochs, batch_size=cfg.train.batch_size,
            patience=cfg.train.patience, clip_norm=cfg.optimizer.clip_norm,
            log_every_n_steps=cfg.tracking.log_every_n_steps)

        every = cfg.sweep.checkpoint_every if observer.records_files else 0
        self.last_epoch = self.state.epoch

        def on_epoch(epoch: int, step: int, values: dict[str, float]) -> bool:
            self.last_epoch = epoch
            observer.epoch_ended(epoch, step, values)
            if self.pruner is not None:
                self.pruned = self.pruner.should_stop(epoch, values)
            # a pruned run keeps where it stopped: a resumed sweep that does not prune goes on
            if every and (epoch % every == 0 or self.pruned is not None):
                self._checkpoint(observer, work)
            return self.pruned is not None

        with interrupts_stop_run(second_kills=self.second_interrupt_kills) as interrupt:
            interrupt.deferred = True
            loop = train_loop(
                model, loss_fn, self.optimizer, self.schedule,
                (dataset.X_train, y_train, dataset.X_val, y_val), settings, self.rng,
                self.history, classify=classify, on_epoch=on_epoch,
                between_steps=interrupt.check, state=self.state,
                weight_hashes=self.hashes)
            interrupt.deferred = False
            interrupt.check()
            final = {k: v for k, v in loop.last.items() if k != "epoch"}
            if dataset.X_test.shape[0] and self.pruned is None:
                test = {f"test/{k}": v for k, v in
                        evaluate(model, loss_fn, dataset.X_test, y_test, classify).items()}
                self.history.add_many(test, loop.steps)
                final.update(test)
            line = learned_line(model, dataset)  # y = a*x + b: the a and b it learned
            if line:
                self.history.add_many(line, loop.steps)
                final.update(line)
            self.history.flush()
            if observer.records_files:
                self._record_files(observer, work, loop, classify)
        objective = self.history.last(cfg.sweep.objective)
        observer.ended(RunOutcome(KILLED if self.pruned else FINISHED, {
            tags.BEST_EPOCH: str(loop.best_epoch), tags.EPOCHS_RUN: str(loop.epochs_run),
            tags.TRAIN_SECONDS: f"{loop.seconds:.4f}",
            tags.STOPPED_EARLY: str(loop.stopped_early).lower(), **self._pruning_tags(),
            **diagnose(history_of(self.history)).tags()},
            metrics=final, seconds=loop.seconds, epochs_run=loop.epochs_run))
        return ExperimentResult(observer.run_id, math.nan if objective is None else objective,
                                final, loop, kept_locally=observer.kept_locally,
                                pruned=self.pruned, resumed_from=self.resumed_from)

    def _pruning_tags(self) -> dict[str, str]:
        """Why the run was pruned (it ends KILLED: it did not train its planned epochs, so no
        filter on FINISHED takes it for a complete run), and what pruning cost it."""
        found = self.pruner.outcome_tags() if self.pruner is not None else {}
        if self.pruned is not None:
            reason = self.pruned.describe(self.cfg.sweep.objective)
            found.update({tags.PRUNED: reason, tags.PRUNED_EPOCH: str(self.pruned.epoch),
                          tags.STATUS_REASON: f"pruned at {reason}"})
        return found

    def _checkpoint(self, observer: RunObserver, work: Path) -> None:
        """Hand the observer a checkpoint of the run as it stands between two epochs."""
        folder = work / checkpoints.CHECKPOINT_DIR
        folder.mkdir(exist_ok=True)
        path = folder / checkpoints.checkpoint_name(self.state.epoch)
        checkpoints.save(checkpoints.capture(self.identity, self.model, self.optimizer,
                                             self.rng, self.state, self.history), path)
        observer.artifact(path, checkpoints.CHECKPOINT_DIR)
        path.unlink()  # the observer keeps its own copy

    def _record_files(self, observer: RunObserver, work: Path, loop: LoopResult,
                      classify: bool) -> None:
        """Weights, the full metric history, the loadable model and the plots."""
        cfg, dataset = self.cfg, self.dataset
        weights = save_network(observer, self.model, dataset, self.loss_name, work)
        (work / "metrics").mkdir()
        observer.artifact(self.history.save(work / "metrics" / "history.npz"), "metrics")
        self.save_hashes(observer, work)
        if cfg.tracking.log_model and self.pruned is None:  # a pruned network is no deliverable
            observer.model(weights, model_meta(dataset, self.loss_name), dataset, loop.steps)
        if cfg.tracking.plots:
            observer.artifact(self._plots(work / "plots", loop, classify), "plots")

    def save_hashes(self, observer: RunObserver, work: Path) -> None:
        """The weight hashes so far, as the artifact `metrics/weight_hashes.npz`."""
        if self.hashes is not None:
            path = work / HASHES_ARTIFACT
            path.parent.mkdir(exist_ok=True)
            observer.artifact(self.hashes.save(path), "metrics")

    def _plots(self, folder: Path, loop: LoopResult, classify: bool) -> Path:
        folder.mkdir()
        dataset, history = self.dataset, self.history
        epochs = history.series("epoch")[1].astype(int).tolist()
        per_epoch = {key: list(zip(epochs, history.series(key)[1].tolist(), strict=True))
                     for key in ("train/loss", "val/loss")}
        plots.loss_curves(per_epoch, folder / "loss_curves.png", loop.best_epoch)
        plots.gradient_norms({k: history.points(k) for k in history.keys()
                              if k.startswith("grad_norm/")}, folder / "gradient_norms.png")
        if classify and dataset.X_test.shape[0]:
            predicted = predicted_classes(self.model.predict(dataset.X_test))
            plots.confusion_matrix(dataset.y_test, predicted, dataset.class_names,
                                   folder / "confusion_matrix.png")
        if dataset.image_shape is not None:
            weights = self.model.named_parameters()["layer1.weight"]
            plots.first_layer_weights(weights, dataset.image_shape,
                                      folder / "first_layer_weights.png")
        return folder
