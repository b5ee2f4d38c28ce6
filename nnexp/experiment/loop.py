"""The training loop: epochs of the engine's `train_epoch`, and what it measures on the way.

The minibatch step (forward, loss, backward, clip, update) is the engine's, the same code that
`engine.fit` and the speed benchmark run; this module adds a per-step hook (divergence checks,
step metrics, interrupt checks) and the per-epoch work (validation, early stopping).
It knows the engine and a metric sink; it knows nothing of Hydra or MLflow.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from nnexp.engine import prepare_data, train_epoch
from nnexp.experiment.probes import EpochMovement, dead_unit_layers, predict_counting_dead_units
from nnexp.experiment.weight_hashes import WeightHashes


class MetricSink(Protocol):
    """Where the loop's measurements go (`nnexp.history.MetricHistory`)."""

    def add_many(self, values: dict[str, float], step: int, per_step: bool = False) -> None: ...

    def recorder(self, keys: tuple[str, ...], per_step: bool = True
                 ) -> Callable[[int, tuple[float, ...]], None]: ...


class Diverged(RuntimeError):
    """A non-finite loss or gradient: where it happened is in `where`."""

    def __init__(self, what: str, where: dict[str, str]) -> None:
        place = ", ".join(f"{k} {v}" for k, v in where.items())
        super().__init__(f"training diverged: {what} ({place})")
        self.what = what
        self.where = where


@dataclass
class LoopSettings:
    epochs: int
    batch_size: int
    patience: int = 0
    clip_norm: float | None = None
    log_every_n_steps: int = 10


@dataclass
class LoopResult:
    epochs_run: int = 0
    steps: int = 0
    best_epoch: int | None = None
    best_val_loss: float = math.inf
    stopped_early: bool = False
    kept_epoch: int | None = None  # the earlier epoch whose weights were restored (patience)
    stop_requested: bool = False  # `on_epoch` asked the loop to stop (a pruned run)
    seconds: float = 0.0
    last: dict[str, float] = field(default_factory=dict)


@dataclass
class LoopState:
    """Where training stands after an epoch, besides the model, optimizer and rng: what a
    checkpoint keeps so that a continued run takes exactly the steps the original would have."""

    epoch: int = 0
    step: int = 0
    best_epoch: int | None = None
    best_val_loss: float = math.inf
    epochs_without_improvement: int = 0
    best_state: dict[str, np.ndarray] | None = None  # weights of the best epoch (patience > 0)
    last: dict[str, float] = field(default_factory=dict)  # the latest epoch's metrics


def evaluate(model: Any, loss_fn: Any, X: np.ndarray, y: np.ndarray, classify: bool, *,
             dead_units: dict[str, float] | None = None) -> dict[str, float]:
    """Loss (and accuracy for classification) of the model on a whole split; given a dict
    `dead_units`, also each ReLU layer's fraction of units dead on the split, from the same pass."""
    outputs = (model.predict(X) if dead_units is None
               else predict_counting_dead_units(model, X, dead_units))
    loss, _ = loss_fn(outputs, y)
    result = {"loss": float(loss)}
    if classify:
        result["accuracy"] = float(np.mean(predicted_classes(outputs) == y.reshape(-1)))
    return result


def predicted_classes(outputs: np.ndarray) -> np.ndarray:
    """Class index from raw outputs: argmax of logits, or logit > 0 for a single output."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0).astype(np.int64)
    return outputs.argmax(axis=1)


def _refuse_non_finite(norms: dict[str, float], step: int, epoch: int) -> None:
    """Raise Diverged naming the first layer whose gradient norm is not finite."""
    layer = next((name for name, v in norms.items() if not math.isfinite(v)), None)
    if layer is not None:
        raise Diverged("non-finite gradient", {"epoch": str(epoch), "step": str(step),
                                               "layer": layer})


def train_loop(
    model: Any,
    loss_fn: Any,
    optimizer: Any,
    schedule: Callable[[int], float],
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    settings: LoopSettings,
    rng: np.random.Generator,
    metrics: MetricSink,
    *,
    classify: bool,
    on_epoch: Callable[[int, int, dict[str, float]], bool | None] | None = None,
    between_steps: Callable[[], None] | None = None,
    state: LoopState | None = None,
    weight_hashes: WeightHashes | None = None,
) -> LoopResult:
    """Minibatch gradient descent for `settings.epochs` epochs with optional early stopping.

    Logs `train/loss_step`, `lr` and `grad_norm/<layer>` (after clipping; with `clip_norm`,
    `grad_norm_unclipped/<layer>` before it too) every `log_every_n_steps` steps and,
    per epoch, `train/loss`, `val/loss`, `val/accuracy`, `weight_norm/<layer>`,
    `update_ratio/<layer>`, `dead_units/<layer>` (ReLU layers) and `epoch`, at the global step
    the epoch ended on (so every metric shares one x axis). `weight_hashes` hashes the weights
    when it is due and once more at the end. With `patience > 0` the weights of the best
    validation epoch are restored at the end (`LoopResult.kept_epoch` says which, when it is not
    the last). `on_epoch(epoch, step, values)` runs after each
    epoch's bookkeeping; a true return stops training there. `state` is updated as the loop goes
    (a caller may checkpoint it); one saved after epoch k continues the run at epoch k + 1, as if
    it had never stopped.
    """
    # Overflow is expected when training diverges; it is detected and reported as Diverged.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _loop(model, loss_fn, optimizer, schedule, data, settings, rng, metrics,
                     classify=classify, on_epoch=on_epoch, between_steps=between_steps,
                     state=state or LoopState(), weight_hashes=weight_hashes)


def _loop(model: Any, loss_fn: Any, optimizer: Any, schedule: Callable[[int], float],
          data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], settings: LoopSettings,
          rng: np.random.Generator, metrics: MetricSink, *, classify: bool,
          on_epoch: Callable[[int, int, dict[str, float]], bool | None] | None,
          between_steps: Callable[[], None] | None, state: LoopState,
          weight_hashes: WeightHashes | None) -> LoopResult:
    X_train, y_train, X_val, y_val = data
    X_train, y_train = prepare_data(model, loss_fn, X_train, y_train)
    steps_per_epoch = math.ceil(X_train.shape[0] / settings.batch_size)
    result = LoopResult()
    movement, relu_layers = EpochMovement(model), dead_unit_layers(model)
    started = time.perf_counter()
    # a continued run whose patience ran out at its last saved epoch stops where it stood
    stop = result.stopped_early = (bool(settings.patience)
                                   and state.epochs_without_improvement >= settings.patience)
    for epoch in range(state.epoch + 1, settings.epochs + 1):
        if stop:
            break
        step = state.step
        movement.begin()
        on_step, before_clip = _step_hooks(model, metrics, settings, epoch, between_steps,
                                           weight_hashes)
        train_loss = train_epoch(
            model, loss_fn, optimizer, X_train, y_train, batch_size=settings.batch_size,
            rng=rng, schedule=schedule, clip_norm=settings.clip_norm, step0=step,
            on_step=on_step, before_clip=before_clip)
        step += steps_per_epoch
        dead: dict[str, float] | None = {} if relu_layers else None
        val = evaluate(model, loss_fn, X_val, y_val, classify, dead_units=dead)
        if not math.isfinite(val["loss"]):
            raise Diverged("non-finite validation loss", {"epoch": str(epoch),
                                                          "step": str(step)})
        epoch_values = {"train/loss": train_loss, **{f"val/{k}": v for k, v in val.items()}}
        epoch_values.update({f"weight_norm/{k}": v for k, v in model.weight_norms().items()})
        epoch_values.update({f"update_ratio/{k}": v for k, v in movement.ratios().items()})
        epoch_values.update({f"dead_units/{k}": v for k, v in (dead or {}).items()})
        epoch_values["epoch"] = epoch
        metrics.add_many(epoch_values, step)
        state.epoch, state.step, state.last = epoch, step, epoch_values
        if val["loss"] < state.best_val_loss:
            state.best_val_loss, state.best_epoch = val["loss"], epoch
            state.epochs_without_improvement = 0
            if settings.patience:
                state.best_state = model.state_dict()
        else:
            state.epochs_without_improvement += 1
        if on_epoch is not None and on_epoch(epoch, step, {**epoch_values, "lr": optimizer.lr}):
            result.stop_requested = True
            break
        if settings.patience and state.epochs_without_improvement >= settings.patience:
            result.stopped_early = stop = True
    if weight_hashes is not None:  # the weights training ended with
        weight_hashes.record(state.step)
    if state.best_state is not None and state.best_epoch != state.epoch:
        model.load_state_dict(state.best_state)
        result.kept_epoch = state.best_epoch
    result.epochs_run, result.steps, result.last = state.epoch, state.step, state.last
    result.best_epoch, result.best_val_loss = state.best_epoch, state.best_val_loss
    result.seconds = time.perf_counter() - started
    return result


def _step_hooks(model: Any, metrics: MetricSink, settings: LoopSettings, epoch: int,
                between_steps: Callable[[], None] | None, weight_hashes: WeightHashes | None
                ) -> tuple[Callable[[int, float, float], None],
                           Callable[[int, float, float], None] | None]:
    """What the loop does at each step after backward, before the update: stop if asked,
    refuse a non-finite loss or gradient, hash the weights when due, log every
    `log_every_n_steps` steps; and, with `clip_norm`, what it does before clipping: measure the
    gradient norms as backward left them (`grad_norm_unclipped/<layer>`) on the logged steps."""
    every = settings.log_every_n_steps
    clipped = settings.clip_norm is not None
    record = metrics.recorder(("train/loss_step", "lr",
                               *(f"grad_norm/{name}" for name in model.layer_names),
                               *(f"grad_norm_unclipped/{name}"
                                 for name in (model.layer_names if clipped else ()))))
    unclipped: list[float] = []

    def before_clip(step: int, loss: float, lr: float) -> None:
        if step % every == 0:  # a non-finite gradient is refused after clipping, in on_step
            unclipped[:] = model.grad_norms().values()

    def on_step(step: int, loss: float, lr: float) -> None:
        if between_steps is not None:  # the previous update is complete, this one not begun
            between_steps()
        if not math.isfinite(loss):
            raise Diverged("non-finite loss", {"epoch": str(epoch), "step": str(step)})
        if step % every:
            # one pass over the gradients: any nan or inf makes the sum of squares non-finite
            if not math.isfinite(float(np.dot(model.grads, model.grads))):
                _refuse_non_finite(model.grad_norms(), step, epoch)
                raise Diverged("non-finite gradient", {"epoch": str(epoch), "step": str(step),
                                                       "layer": "unknown"})  # the total overflowed
        else:
            norms = model.grad_norms()
            _refuse_non_finite(norms, step, epoch)
            record(step, (loss, lr, *norms.values(), *unclipped))
        if weight_hashes is not None and weight_hashes.due(step):
            weight_hashes.record(step)  # after the step's metrics, which may show the difference

    return on_step, before_clip if clipped else None
