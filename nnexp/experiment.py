"""One experiment, end to end: config -> data -> network -> training loop -> one MLflow run.

Callable without Hydra (reproduce and tests use it directly); `nnexp.train` is its CLI.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from nnexp import engine
from nnexp.config import ConfigError, to_container, validate, validate_for_data
from nnexp.data import Dataset, load_dataset
from nnexp.loop import Diverged, LoopResult, LoopSettings, evaluate, predicted_classes, train_loop
from nnexp.tracking import plots, tags
from nnexp.tracking.dataset_input import log_dataset_inputs
from nnexp.tracking.model import log_network_model
from nnexp.tracking.params import flatten
from nnexp.tracking.provenance import provenance_tags
from nnexp.tracking.run import Run, RunDiverged, tracked_run
from nnexp.tracking.store import resolve_tracking_uri
from nnexp.vocabulary import CLASSIFICATION_LOSSES, REGRESSION_LOSSES

IDENTITY_EXCLUDES = ("tracking", "sweep", "gradcheck")  # keys that never change the numbers


@dataclass
class ExperimentResult:
    run_id: str | None
    objective: float
    metrics: dict[str, float]
    loop: LoopResult
    reused: bool = False


def config_hash(config: dict[str, Any]) -> str:
    """Identity of an experiment: a hash of the resolved config minus tracking and sweep keys."""
    core = {k: v for k, v in config.items() if k not in IDENTITY_EXCLUDES}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]


def load_data(cfg: DictConfig) -> Dataset:
    """The data set the config names, split and scaled with the config's seed."""
    d = cfg.data
    return load_dataset(
        d.name, rng_seed=cfg.seed, val_fraction=cfg.train.val_fraction,
        test_fraction=cfg.train.test_fraction, standardize=d.standardize, dtype=cfg.model.dtype,
        n_samples=d.n_samples, noise=d.noise, image_dir=d.image_dir,
        image_size=tuple(d.image_size), image_mode=d.image_mode,
    )


def choose_loss(cfg: DictConfig, dataset: Dataset) -> str:
    """train.loss, or the natural loss of the task: cross-entropy or mean squared error."""
    classify = dataset.task == "classification"
    allowed = CLASSIFICATION_LOSSES if classify else REGRESSION_LOSSES
    name = cfg.train.loss or allowed[0]
    if name not in allowed:
        raise ConfigError(f"train.loss: {name!r} does not fit {dataset.task} data "
                          f"'{dataset.name}'; allowed: {', '.join(allowed)}")
    if name == "bce" and dataset.n_classes != 2:
        raise ConfigError(f"train.loss: 'bce' needs 2 classes, data '{dataset.name}' has "
                          f"{dataset.n_classes}; use cross_entropy")
    return name


def targets_for(loss_name: str, y: np.ndarray, dtype: str) -> np.ndarray:
    """Labels as the loss expects them: class indices, or a float column for bce."""
    return y.astype(dtype).reshape(-1, 1) if loss_name == "bce" else y


def build_network(cfg: DictConfig, dataset: Dataset, loss_name: str,
                  rng: np.random.Generator) -> Any:
    """The MLP the config describes, sized to the data; initialised from `rng`."""
    n_outputs = 1 if loss_name == "bce" else dataset.n_outputs
    return engine.build_mlp(
        dataset.n_features, list(cfg.model.hidden), n_outputs, activation=cfg.model.activation,
        init=cfg.model.init, dtype=cfg.model.dtype, rng=rng,
        negative_slope=cfg.model.negative_slope,
    )


def build_optimizer(cfg: DictConfig, model: Any) -> Any:
    o = cfg.optimizer
    extra: dict[str, float] = {"weight_decay": o.weight_decay}
    if o.name in ("momentum", "nesterov"):
        extra["momentum"] = o.momentum
    elif o.name in ("adam", "adamw"):
        extra.update(beta1=o.beta1, beta2=o.beta2, eps=o.eps)
    elif o.name == "rmsprop":
        extra.update(alpha=o.alpha, eps=o.eps)
    return engine.make_optimizer(o.name, model, cfg.lr, **extra)


def build_schedule(cfg: DictConfig, total_steps: int) -> Any:
    s = cfg.schedule
    return engine.make_schedule(
        s.name, cfg.lr, total_steps=total_steps, step_size=s.step_size, gamma=s.gamma,
        decay=s.decay, warmup_steps=s.warmup_steps, min_lr=s.min_lr,
    )


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
) -> ExperimentResult:
    """Validate, load data, train, and record everything in one MLflow run; return the objective.

    Every user mistake (config, data, store) is raised before the run is created.
    """
    validate(cfg)
    config = to_container(cfg)
    uri = resolve_tracking_uri(cfg.tracking.uri) if cfg.tracking.enabled else None
    if uri is not None and cfg.sweep.skip_finished:
        done = finished_run(uri, cfg.tracking.experiment, config_hash(config))
        if done is not None:
            return _reuse(done, cfg, uri, parent_run_id, verbose, run_name)
    dataset = load_data(cfg)
    loss_name = choose_loss(cfg, dataset)
    validate_for_data(cfg, n_inputs=dataset.n_features, n_outputs=dataset.n_outputs,
                      n_train=dataset.X_train.shape[0],
                      n_eval=max(dataset.X_val.shape[0], dataset.X_test.shape[0]))
    provenance, git_diff = provenance_tags(command)
    run_tags = {
        **provenance,
        tags.SEED: str(cfg.seed),
        tags.PID: str(os.getpid()),
        tags.CONFIG_HASH: config_hash(config),
        tags.DTYPE: cfg.model.dtype,
        tags.DATA: dataset.name,
        tags.OVERRIDES: " ".join(overrides or []) or "(none)",
        **(extra_tags or {}),
    }
    if dataset.notes:
        run_tags[tags.DATA_NOTES] = "; ".join(dataset.notes)[:tags.MAX_VALUE_CHARS]
        if verbose:
            for note in dataset.notes:
                if "convert" in note:  # the user should know their images were changed
                    print(f"note: {note}", file=sys.stderr)
    with tracked_run(uri, cfg.tracking.experiment, run_name, run_tags=run_tags,
                     parent_run_id=parent_run_id) as run:
        _log_inputs(run, cfg, config, overrides, hydra_dir, git_diff, dataset, loss_name)
        try:
            return _train_and_record(cfg, run, dataset, loss_name, verbose)
        except Diverged as exc:
            raise RunDiverged(str(exc), {
                tags.DIVERGED: "true", tags.DIVERGED_PREFIX + "what": exc.what,
                **{tags.DIVERGED_PREFIX + k: v for k, v in exc.where.items()},
            }) from None


def finished_run(uri: str, experiment: str, identity: str) -> Any | None:
    """The newest FINISHED run of `experiment` whose config hash is `identity`, if any."""
    from nnexp.tracking.store import open_client

    client = open_client(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=(f"tags.`{tags.CONFIG_HASH}` = '{identity}' "
                       "and attributes.status = 'FINISHED'"),
        order_by=["attributes.start_time DESC"], max_results=1,
    )
    return runs[0] if runs else None


def _reuse(done: Any, cfg: DictConfig, uri: str, parent_run_id: str | None, verbose: bool,
           run_name: str) -> ExperimentResult:
    """sweep.skip_finished: answer with an earlier identical run instead of training again."""
    from nnexp.tracking.store import open_client

    if parent_run_id:  # the sweep summary lists reused runs next to its children
        open_client(uri).set_tag(
            parent_run_id, tags.SWEEP_REUSED_PREFIX + done.info.run_id, run_name)
    metrics = dict(done.data.metrics)
    objective = metrics.get(cfg.sweep.objective, math.nan)
    if verbose:
        print(f"skipped: identical config already FINISHED as run {done.info.run_id} "
              f"({cfg.sweep.objective} {objective:.4f})")
    return ExperimentResult(done.info.run_id, objective, metrics, LoopResult(), reused=True)


def _log_inputs(run: Run, cfg: DictConfig, config: dict[str, Any], overrides: list[str] | None,
                hydra_dir: Path | None, git_diff: str | None, dataset: Dataset,
                loss_name: str) -> None:
    """What a run needs to be understood and repeated, logged before training starts."""
    if not run.enabled:
        return
    params = flatten(config)
    params.update({f"dataset.{k}": str(v) for k, v in dataset.summary().items()})
    params["train.loss_resolved"] = loss_name
    run.log_params(params)
    run.log_text(OmegaConf.to_yaml(OmegaConf.create(config)), "config.yaml")
    run.log_text(OmegaConf.to_yaml(OmegaConf.create(list(overrides or []))), "overrides.yaml")
    log_dataset_inputs(run.client, run.run_id, dataset)
    if hydra_dir is not None and hydra_dir.is_dir():
        run.log_artifacts(hydra_dir, ".hydra")
    if git_diff:
        run.log_text(git_diff, "source/git_diff.patch")


def _progress(epochs: int) -> Any:
    width = len(str(epochs))

    def show(epoch: int, values: dict[str, float]) -> None:
        shown = "  ".join(f"{k} {v:.4f}" for k, v in values.items()
                          if k.startswith(("train/", "val/")))
        print(f"epoch {epoch:>{width}}/{epochs}  {shown}  lr {values['lr']:.3g}", flush=True)

    return show


def _train_and_record(cfg: DictConfig, run: Run, dataset: Dataset, loss_name: str,
                      verbose: bool) -> ExperimentResult:
    rng = np.random.default_rng(cfg.seed)
    model = build_network(cfg, dataset, loss_name, rng)
    loss_fn = engine.make_loss(loss_name)
    optimizer = build_optimizer(cfg, model)
    steps_per_epoch = math.ceil(dataset.X_train.shape[0] / cfg.train.batch_size)
    schedule = build_schedule(cfg, steps_per_epoch * cfg.train.epochs)
    classify = dataset.task == "classification"
    dtype = cfg.model.dtype
    y_train, y_val, y_test = (targets_for(loss_name, y, dtype)
                              for y in (dataset.y_train, dataset.y_val, dataset.y_test))
    settings = LoopSettings(
        epochs=cfg.train.epochs, batch_size=cfg.train.batch_size, patience=cfg.train.patience,
        clip_norm=cfg.optimizer.clip_norm, log_every_n_steps=cfg.tracking.log_every_n_steps,
    )
    workdir = tempfile.TemporaryDirectory(prefix="nnexp-run-")
    out = Path(workdir.name)

    def save_weights_artifact() -> None:
        engine.save_weights(model, out / "weights.npz")
        run.log_artifact(out / "weights.npz")

    run.on_interrupt = save_weights_artifact
    if run.enabled:
        run.log_params({"model.n_parameters": str(model.params.size)})

    def on_epoch(epoch: int, values: dict[str, float]) -> None:
        run.last_completed_epoch = epoch
        if verbose:
            show(epoch, values)

    show = _progress(cfg.train.epochs)
    run.interrupt.deferred = True
    try:
        loop = train_loop(
            model, loss_fn, optimizer, schedule,
            (dataset.X_train, y_train, dataset.X_val, y_val), settings, rng, run.metrics,
            classify=classify, on_epoch=on_epoch, between_steps=run.interrupt.check,
        )
    finally:
        run.interrupt.deferred = False
    run.interrupt.check()
    final: dict[str, float] = dict(loop.last)
    if dataset.X_test.shape[0]:
        test = {f"test/{k}": v for k, v in evaluate(model, loss_fn, dataset.X_test, y_test,
                                                    classify).items()}
        run.metrics.add_many(test, loop.epochs_run)
        final.update(test)
    run.metrics.flush()
    run.set_tags({tags.BEST_EPOCH: loop.best_epoch, tags.EPOCHS_RUN: loop.epochs_run,
                  tags.TRAIN_SECONDS: f"{loop.seconds:.4f}",
                  tags.STOPPED_EARLY: str(loop.stopped_early).lower()})
    if run.enabled:
        save_weights_artifact()
        if cfg.tracking.log_model:
            log_network_model(run.client.tracking_uri, run.run_id, out / "weights.npz", dataset,
                              loss_name, step=loop.epochs_run)
        if cfg.tracking.plots:
            _log_plots(run, out, model, dataset, loop, loss_fn, loss_name, classify)
    if verbose:
        shown = "  ".join(f"{k} {v:.4f}" for k, v in final.items()
                          if k.startswith(("val/", "test/")))
        where = f"run {run.run_id}" if run.enabled else "tracking off"
        print(f"done in {loop.seconds:.2f} s ({loop.epochs_run} epochs)  {shown}  [{where}]")
    objective_key = cfg.sweep.objective
    history = run.metrics.history.get(objective_key)
    objective = history[-1][1] if history else math.nan
    workdir.cleanup()
    return ExperimentResult(run.run_id, objective, final, loop)


def _log_plots(run: Run, out: Path, model: Any, dataset: Dataset, loop: LoopResult,
               loss_fn: Any, loss_name: str, classify: bool) -> None:
    folder = out / "plots"
    folder.mkdir(exist_ok=True)
    history = run.metrics.history
    plots.loss_curves(history, folder / "loss_curves.png", loop.best_epoch)
    plots.gradient_norms(history, folder / "gradient_norms.png")
    if classify and dataset.X_test.shape[0]:
        predicted = predicted_classes(model.predict(dataset.X_test))
        plots.confusion_matrix(dataset.y_test, predicted, dataset.class_names,
                               folder / "confusion_matrix.png")
    if dataset.image_shape is not None:
        weights = model.named_parameters()["layer1.weight"]
        plots.first_layer_weights(weights, dataset.image_shape, folder / "first_layer_weights.png")
    run.log_artifacts(folder, "plots")
