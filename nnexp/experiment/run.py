"""One experiment, end to end: config -> data -> network -> training loop, told to an observer.

Callable without Hydra (reproduce, tests and notebooks use it) and without MLflow: what records
the run is its observer (`nnexp.observer`); `nnexp.train` is its command line.
"""

from __future__ import annotations

import math
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from nnexp import engine
from nnexp.config import config_hash, to_container, validate
from nnexp.config.choices import group_choices
from nnexp.data import Dataset
from nnexp.experiment import checkpoint as checkpoints
from nnexp.experiment import interrupts
from nnexp.experiment.build import (
    build_network,
    build_optimizer,
    build_schedule,
    choose_loss,
    prepared_data,
    targets_for,
)
from nnexp.experiment.console import say, say_start
from nnexp.experiment.final_values import final_metrics
from nnexp.experiment.history import MetricHistory
from nnexp.experiment.interrupts import RunInterrupted, RunStopped, interrupts_stop_run
from nnexp.experiment.line_fit import learned_line
from nnexp.experiment.loop import (
    Diverged,
    LoopResult,
    LoopSettings,
    LoopState,
    evaluate,
    train_loop,
)
from nnexp.experiment.observer import (
    FAILED,
    FINISHED,
    KILLED,
    RunObserver,
    RunOutcome,
    RunPlan,
    RunStart,
)
from nnexp.experiment.pruner import Pruned, Pruner, pruning_tags
from nnexp.experiment.run_files import draw_plots, save_hashes, save_history, save_network
from nnexp.experiment.verdict import diagnose, history_of
from nnexp.experiment.weight_hashes import RecordedHashes, WeightHashes
from nnexp.record import tags
from nnexp.record.hydra_bundle import hydra_record
from nnexp.record.model_files import model_meta
from nnexp.record.params import run_params
from nnexp.record.provenance import provenance_tags


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


@dataclass
class Continuation:
    """A stopped run to continue: its id and the checkpoint it left."""

    run_id: str
    checkpoint: checkpoints.Checkpoint


@dataclass
class RunOptions:
    """What the caller decided before the run exists (for a job: its sweep policy)."""

    objective: str = "val/loss"  # the metric the result reports (a sweeper's objective)
    checkpoint_every: int = 0  # epochs between checkpoints handed to the observer; 0: none
    continuation: Continuation | None = None  # continue this stopped run from its checkpoint
    pruner: Pruner | None = None  # asked at each epoch's end whether to stop
    # made once the run has started (its id known), for a pruner that needs it
    pruner_for: Callable[[MetricHistory], Pruner | None] | None = None
    on_started: Callable[[str | None], None] | None = None  # told the run's id once it exists
    check_weights: RecordedHashes | None = None  # stop at the first step whose weights differ
    extra_tags: dict[str, str] = field(default_factory=dict)


def _continue_from(continuation: Continuation, identity: str, model: Any, optimizer: Any,
                   rng: np.random.Generator, verbose: bool) -> tuple[LoopState, str | None]:
    """Model, optimizer and rng as the checkpoint left them; the loop state to continue from
    and the run continued, or a fresh start (with a warning) when the checkpoint does not fit."""
    try:
        state = checkpoints.restore(continuation.checkpoint, identity, model, optimizer, rng)
    except checkpoints.CheckpointError as exc:
        say(f"warning: cannot continue run {continuation.run_id} ({exc}); training from the "
            "start", error=True)
        return LoopState(), None
    if verbose:
        say(f"continuing run {continuation.run_id} from its checkpoint at epoch {state.epoch}")
    return state, continuation.run_id


def run_experiment(
    cfg: DictConfig,
    observer: RunObserver,
    *,
    run_name: str,
    options: RunOptions | None = None,
    dataset: Dataset | None = None,
    overrides: list[str] | None = None,
    parent_run_id: str | None = None,
    hydra_dir: Path | None = None,
    verbose: bool = True,
    command: list[str] | None = None,
    second_interrupt_kills: bool = True,
) -> ExperimentResult:
    """Validate, load data (unless given), build the network, train, and tell `observer`
    everything; return the objective and metrics. The run picks no store and reads no
    `cfg.sweep`: what a sweep decides arrives in `options`.

    Every user mistake (config, data) is raised before the run is created. A first Ctrl-C
    ends the run KILLED; a second one kills the process, or raises KeyboardInterrupt with
    `second_interrupt_kills` false (a notebook's kernel).
    """
    options = options or RunOptions()
    validate(cfg)
    config = to_container(cfg)
    identity = config_hash(config)
    if dataset is None:
        dataset, loss_name = prepared_data(cfg)
    else:
        loss_name = choose_loss(cfg, dataset)
    rng = np.random.default_rng(cfg.seed)
    model = build_network(cfg, dataset, loss_name, rng)
    optimizer = build_optimizer(cfg, model)
    steps_per_epoch = math.ceil(dataset.X_train.shape[0] / cfg.train.batch_size)
    plan = RunPlan(total_steps=steps_per_epoch * cfg.train.epochs, epochs=cfg.train.epochs,
                   log_every_n_steps=cfg.tracking.log_every_n_steps)
    state, resumed_from = LoopState(), None
    if options.continuation is not None:
        state, resumed_from = _continue_from(options.continuation, identity, model, optimizer,
                                             rng, verbose)
    extra_tags = dict(options.extra_tags) if resumed_from is None else {
        **options.extra_tags, tags.RESUMED_FROM: resumed_from,
        tags.RESUMED_AT_EPOCH: str(state.epoch)}
    start = _run_start(cfg, config, run_name, plan, dataset, loss_name, model, overrides,
                       parent_run_id, hydra_dir, extra_tags, command)
    if verbose:
        say_start(start.params["model.summary"], dataset.notes)
    history = MetricHistory(observer)
    if resumed_from is not None and options.continuation is not None:
        history.restore(options.continuation.checkpoint.history)
    training = _Training(cfg, dataset, loss_name, model, optimizer,
                         build_schedule(cfg, plan.total_steps), rng, history,
                         second_interrupt_kills,
                         _hashes(cfg, model, observer, options, plan,
                                 None if resumed_from is None else state.step))
    training.state, training.identity, training.resumed_from = state, identity, resumed_from
    training.objective, training.checkpoint_every = options.objective, options.checkpoint_every
    training.run_start = start
    return training.start(observer, options)


def _hashes(cfg: DictConfig, model: Any, observer: RunObserver, options: RunOptions,
            plan: RunPlan, resumed_at: int | None) -> WeightHashes | None:
    """Weight hashes every few steps where they are kept or checked; else none in the step.
    A continuation (`resumed_at`: its checkpoint's step) starts from the hashes it carries."""
    check = options.check_weights
    every = check.every if check else cfg.tracking.hash_every_n_steps
    if not (check or observer.records_files):
        every = 0  # nowhere to keep them: no hashing in the step
    hashes = WeightHashes(model, every, check, plan.total_steps) if every else None
    if hashes is not None and resumed_at is not None and options.continuation is not None:
        hashes.carry_on(options.continuation.checkpoint.hashes, resumed_at)
    return hashes


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
        **({tags.DATA_DIGEST: dataset.digest} if dataset.digest else {}),
        **({tags.DATA_SOURCE: dataset.source[:tags.MAX_VALUE_CHARS]} if dataset.source else {}),
        tags.OVERRIDES: " ".join(overrides or []) or "(none)",
        **(extra_tags or {}),
        **tags.user_tags(cfg.tracking),  # names nnexp and MLflow do not use (config checks)
    }
    if dataset.notes:
        run_tags[tags.DATA_NOTES] = "; ".join(dataset.notes)[:tags.MAX_VALUE_CHARS]
    params = run_params({**config, "dataset": dataset.summary()}, group_choices(cfg, overrides))
    params["train.loss_resolved"] = loss_name
    params["model.n_parameters"] = str(model.params.size)
    params["model.summary"] = model.summary()
    if cfg.model.get("layers") is not None:  # the MLP's keys did not shape this network
        params = {k: v for k, v in params.items() if k not in ("model.hidden", "model.activation")}
    texts = {"config.yaml": OmegaConf.to_yaml(OmegaConf.create(config)),
             "overrides.yaml": OmegaConf.to_yaml(OmegaConf.create(list(overrides or [])))}
    if git_diff:
        texts["source/git_diff.patch"] = git_diff
    bundled, folders = hydra_record(hydra_dir, child=parent_run_id is not None)
    texts.update(bundled)
    return RunStart(run_name, cfg.tracking.experiment, plan, parent_run_id, run_tags, params,
                    texts, folders, dataset)


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
        self.objective, self.checkpoint_every = "val/loss", 0
        self.run_start: RunStart | None = None
        self.interrupt = interrupts.InterruptFlag()  # the run's own, once it starts
        self.began = False  # training began (the run exists in its observers)

    def start(self, observer: RunObserver, options: RunOptions) -> ExperimentResult:
        """Create the run, train it, and end it with its outcome, whatever happens; a signal
        from the run's creation on ends it KILLED (see `interrupts`)."""
        history = self.history
        with (tempfile.TemporaryDirectory(prefix="nnexp-run-") as work,
              interrupts_stop_run(second_kills=self.second_interrupt_kills) as interrupt):
            self.interrupt = interrupt
            try:
                observer.started(self.run_start)
                if options.on_started is not None:
                    options.on_started(observer.run_id)
                self.pruner = options.pruner or (options.pruner_for(history)
                                                 if options.pruner_for else None)
                self.began = True
                return self.run(observer, Path(work))
            except Diverged as exc:
                history.flush()
                observer.ended(RunOutcome(FAILED, {
                    tags.ERROR: f"Diverged: {exc}"[:tags.MAX_VALUE_CHARS],
                    tags.LAST_COMPLETED_EPOCH: str(self.last_epoch), tags.DIVERGED: "true",
                    tags.DIVERGED_PREFIX + "what": exc.what,
                    **{tags.DIVERGED_PREFIX + k: v for k, v in exc.where.items()},
                    **diagnose(history_of(history), {"what": exc.what, **exc.where}).tags()}))
                raise
            except (RunStopped, KeyboardInterrupt) as exc:
                self._end_killed(observer, exc, Path(work))
                raise
            except BaseException as exc:
                history.flush()
                message = (str(exc).splitlines() or [type(exc).__name__])[0]
                observer.ended(RunOutcome(FAILED, {
                    tags.ERROR: f"{type(exc).__name__}: {message}"[:tags.MAX_VALUE_CHARS],
                    tags.LAST_COMPLETED_EPOCH: str(self.last_epoch)},
                    traceback="".join(traceback.format_exception(exc))))
                raise

    def _end_killed(self, observer: RunObserver, exc: BaseException, work: Path) -> None:
        """End the run KILLED with its latest weights; a second signal, or one before training
        began, skips them and waits for the store briefly (else its journal keeps the end)."""
        try:
            self.history.flush()
            if (observer.records_files and isinstance(exc, RunInterrupted) and self.began
                    and not self.interrupt.hurried):  # between steps
                save_network(observer, self.model, self.dataset, self.loss_name, work)
                save_hashes(observer, self.hashes, work)
        except (RunStopped, KeyboardInterrupt):
            pass  # a second signal: the user will not wait for the weights
        if isinstance(exc, RunInterrupted):
            exc.hurried = self.interrupt.hurried or not self.began
        brief = self.interrupt.hurried or not self.began
        observer.ended(RunOutcome(KILLED, {
            tags.STATUS_REASON: str(exc) or "interrupted (KeyboardInterrupt)",
            tags.LAST_COMPLETED_EPOCH: str(self.last_epoch),
            **diagnose(history_of(self.history)).tags()},
            wait_seconds=interrupts.LAST_WAIT_SECONDS if brief else None))

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

        every = self.checkpoint_every if observer.records_files else 0
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

        self.interrupt.deferred = True
        loop = train_loop(
            model, loss_fn, self.optimizer, self.schedule,
            (dataset.X_train, y_train, dataset.X_val, y_val), settings, self.rng,
            self.history, classify=classify, on_epoch=on_epoch,
            between_steps=self.interrupt.check, state=self.state,
            weight_hashes=self.hashes)
        self.interrupt.deferred = False
        self.interrupt.check()
        final = final_metrics(loop, self.history, model, loss_fn,
                              (dataset.X_train, y_train), (dataset.X_val, y_val),
                              classify=classify, patience=cfg.train.patience)
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
        objective = self.history.last(self.objective)  # the kept weights' value
        kept = {} if loop.kept_epoch is None else {tags.KEPT_EPOCH: str(loop.kept_epoch)}
        observer.ended(RunOutcome(KILLED if self.pruned else FINISHED, {
            tags.BEST_EPOCH: str(loop.best_epoch), tags.EPOCHS_RUN: str(loop.epochs_run),
            tags.TRAIN_SECONDS: f"{loop.seconds:.4f}", **kept,
            tags.STOPPED_EARLY: str(loop.stopped_early).lower(),
            **pruning_tags(self.pruner, self.pruned, self.objective),
            **diagnose(history_of(self.history)).tags()},
            metrics=final, seconds=loop.seconds, epochs_run=loop.epochs_run))
        return ExperimentResult(observer.run_id, math.nan if objective is None else objective,
                                final, loop, kept_locally=observer.kept_locally,
                                pruned=self.pruned, resumed_from=self.resumed_from)

    def _checkpoint(self, observer: RunObserver, work: Path) -> None:
        """Hand the observer a checkpoint of the run as it stands between two epochs."""
        folder = work / checkpoints.CHECKPOINT_DIR
        folder.mkdir(exist_ok=True)
        path = folder / checkpoints.checkpoint_name(self.state.epoch)
        checkpoints.save(checkpoints.capture(self.identity, self.model, self.optimizer,
                                             self.rng, self.state, self.history,
                                             self.hashes), path)
        # the checksum first: a checkpoint in the store always has its checksum in the record
        observer.record_tags({tags.CHECKPOINT_SHA256_PREFIX + path.name:
                              checkpoints.file_sha256(path)})
        observer.artifact(path, checkpoints.CHECKPOINT_DIR)
        path.unlink()  # the observer keeps its own copy

    def _record_files(self, observer: RunObserver, work: Path, loop: LoopResult,
                      classify: bool) -> None:
        """Weights, the full metric history, the loadable model and the plots (a sweep's child:
        its hashes in the history file, its loss curves alone; fewer uploads and figures)."""
        cfg, dataset = self.cfg, self.dataset
        child = self.run_start is not None and self.run_start.parent_run_id is not None
        weights = save_network(observer, self.model, dataset, self.loss_name, work)
        if not save_history(observer, self.history, self.hashes if child else None, work):
            save_hashes(observer, self.hashes, work)
        if cfg.tracking.log_model and self.pruned is None:  # a pruned network is no deliverable
            observer.model(weights, model_meta(dataset, self.loss_name), dataset, loop.steps)
        if cfg.tracking.plots:
            observer.artifact(draw_plots(work / "plots", self.history, dataset, self.model,
                                         loop.best_epoch, classify, only_loss=child), "plots")

