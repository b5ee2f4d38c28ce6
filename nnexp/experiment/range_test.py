"""The learning-rate range test (Leslie Smith): the config's network trained while the learning
rate grows exponentially, step by step, and where its loss turns up; told to an observer as a run
of its own. `python -m nnexp.lr_find` is its command; `sweep.skip_lr_above=auto` asks it too."""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from nnexp import engine
from nnexp.config import ConfigError, to_container, validate
from nnexp.config.choices import group_choices
from nnexp.data import Dataset
from nnexp.experiment.build import (
    build_network,
    build_optimizer,
    choose_loss,
    load_data,
    targets_for,
)
from nnexp.experiment.history import MetricHistory
from nnexp.experiment.observer import FAILED, FINISHED, RunObserver, RunOutcome, RunPlan, RunStart
from nnexp.record import plots, tags
from nnexp.record.params import run_params
from nnexp.record.provenance import provenance_tags
from nnexp.record.redact import redact

PLOT_ARTIFACT = "lr_find/lr_range.png"
METRICS = ("lr_find/lr", "lr_find/loss", "lr_find/smoothed_loss")
# what a test's outcome does not depend on: its own schedule replaces lr and the config's one
KEY_EXCLUDES = ("tracking", "sweep", "gradcheck", "lr", "seed", "schedule")
KEY_EXCLUDES_TRAIN = ("epochs", "patience")
# below MIN_FALL_NOISE times the loss's step-to-step noise, a fall is noise: no suggestion
MIN_FALL_NOISE = 2.0
MIN_FALL_RELATIVE = 1e-3  # nor a fall below this fraction of the starting loss (no noise at all)


class _Stop(Exception):
    """The range test is over (reached max_lr or diverged)."""


@dataclass(frozen=True)
class RangeTest:
    """The loss at each learning rate of one range test, and where it stopped."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stopped: str
    divergence_lr: float | None  # where the loss diverged; None when it never did

    @property
    def min_loss_lr(self) -> float:
        """The learning rate at the lowest smoothed loss."""
        return float(self.lrs[int(np.argmin(self.smoothed))])

    @property
    def steepest_lr(self) -> float | None:
        """The learning rate where the smoothed loss fell fastest (per factor of lr), before its
        lowest point; None with too few points to tell."""
        start, end = self.lrs.size // 10, int(np.argmin(self.smoothed)) + 1  # past the noisy start
        if end - start < 3:
            return None
        slope = np.gradient(self.smoothed[start:end], np.log(self.lrs[start:end]))
        return float(self.lrs[start + int(np.argmin(slope))])

    @property
    def undetermined(self) -> str | None:
        """Why the test suggests no rate (its smoothed loss never fell by more than its noise,
        so its lowest point is chance), or None when it does."""
        start = float(self.losses[:max(5, self.lrs.size // 10)].mean())
        steps = np.diff(self.losses)  # noise: robust spread of the step-to-step changes
        noise = 1.4826 * float(np.median(np.abs(steps - np.median(steps)))) / math.sqrt(2)
        fall = start - float(self.smoothed.min())
        if fall > max(MIN_FALL_NOISE * noise, MIN_FALL_RELATIVE * abs(start)):
            return None
        where = (f"before it diverged at lr {self.divergence_lr:.3g}: lower lr_find.min_lr"
                 if self.divergence_lr is not None else
                 f"up to lr {self.lrs[-1]:.3g}: raise lr_find.max_lr")
        return (f"the smoothed loss never fell below its start ({start:.4g}) by more than its "
                f"step-to-step noise ({noise:.2g}) {where}")

    @property
    def suggested_lr(self) -> float | None:
        """A tenth of the lr at the lowest smoothed loss; None when that point is noise."""
        return None if self.undetermined else self.min_loss_lr / 10

    def tags(self) -> dict[str, str]:
        steepest, suggested = self.steepest_lr, self.suggested_lr
        return {tags.LR_FIND_SUGGESTED: repr(suggested) if suggested else "undetermined",
                tags.LR_FIND_MIN_LOSS: repr(self.min_loss_lr),
                tags.LR_FIND_STEEPEST: repr(steepest) if steepest is not None else "none",
                tags.LR_FIND_DIVERGENCE: (repr(self.divergence_lr)
                                          if self.divergence_lr is not None else "none"),
                tags.LR_FIND_STOPPED: self.stopped}


def range_test_key(config: dict[str, Any]) -> str:
    """What decides a range test's outcome, hashed: the resolved config without lr, seed,
    schedule, epochs, patience, tracking and sweep keys (the test uses its own lr schedule)."""
    core = {k: v for k, v in config.items() if k not in KEY_EXCLUDES}
    core["train"] = {k: v for k, v in core.get("train", {}).items()
                     if k not in KEY_EXCLUDES_TRAIN}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]


def range_test(cfg: DictConfig, dataset: Dataset | None = None,
               record: Callable[[int, tuple[float, ...]], None] | None = None) -> RangeTest:
    """Train the config's network while the learning rate grows exponentially, step by step;
    `record(step, (lr, loss, smoothed))` hears each step. Pure numpy: nothing is tracked."""
    min_lr, steps, beta = float(cfg.lr_find.min_lr), int(cfg.lr_find.steps), float(
        cfg.lr_find.smoothing)
    diverge = float(cfg.lr_find.diverge_factor)
    dataset = dataset if dataset is not None else load_data(cfg)
    loss_name = choose_loss(cfg, dataset)
    rng = np.random.default_rng(cfg.seed)
    model = build_network(cfg, dataset, loss_name, rng)
    optimizer = build_optimizer(cfg, model)
    loss_fn = engine.make_loss(loss_name)
    X, y = engine.prepare_data(model, loss_fn, dataset.X_train,
                               targets_for(loss_name, dataset.y_train, cfg.model.dtype))
    # in log space: the ratio max_lr / min_lr itself may overflow a float
    rate = (math.log(float(cfg.lr_find.max_lr)) - math.log(min_lr)) / (steps - 1)
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    state = {"average": 0.0, "best": math.inf, "stopped": "", "divergence": None}

    def on_step(step: int, loss: float, lr: float) -> None:
        if not math.isfinite(loss):
            state["stopped"], state["divergence"] = "the loss is not finite", lr
            raise _Stop
        state["average"] = beta * state["average"] + (1 - beta) * loss
        value = state["average"] / (1 - beta ** (step + 1))
        lrs.append(lr)
        losses.append(loss)
        smoothed.append(value)
        if record is not None:
            record(step, (lr, loss, value))
        state["best"] = min(state["best"], value)
        if value > diverge * state["best"]:
            state["stopped"] = f"the smoothed loss rose above {diverge:g}x its best"
            state["divergence"] = lr
            raise _Stop
        if step + 1 >= steps:
            state["stopped"] = "reached lr_find.max_lr"
            raise _Stop

    step = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            while True:
                engine.train_epoch(model, loss_fn, optimizer, X, y,
                                   batch_size=cfg.train.batch_size, rng=rng,
                                   schedule=lambda t: min_lr * math.exp(rate * t), step0=step,
                                   clip_norm=cfg.optimizer.clip_norm, on_step=on_step)
                step += -(-X.shape[0] // cfg.train.batch_size)
        except _Stop:
            pass
    if not lrs:
        raise ConfigError(f"lr_find.min_lr: the loss is not finite already at lr "
                          f"{min_lr:g}; lower it")
    return RangeTest(np.array(lrs), np.array(losses), np.array(smoothed), state["stopped"],
                     state["divergence"])


def _range_test_start(cfg: DictConfig, config: dict[str, Any], name: str, overrides: list[str],
               parent_run_id: str | None, command: list[str] | None) -> RunStart:
    """The record of a range test: its config and provenance, tagged as a range test (and
    without the config hash, so it never answers for a training run)."""
    provenance, _ = provenance_tags(command)
    run_tags = {**provenance, tags.LR_FIND: "range_test", tags.LR_FIND_KEY: range_test_key(config),
                tags.SEED: str(cfg.seed), tags.OVERRIDES: " ".join(overrides) or "(none)",
                **tags.user_tags(cfg.tracking)}
    texts = {"config.yaml": OmegaConf.to_yaml(OmegaConf.create(config)),
             "overrides.yaml": OmegaConf.to_yaml(OmegaConf.create(list(overrides)))}
    plan = RunPlan(total_steps=cfg.lr_find.steps, epochs=1, log_every_n_steps=1)
    params = run_params(config, group_choices(cfg, overrides), keep=("lr_find",))
    return RunStart(name, cfg.tracking.experiment, plan, parent_run_id, run_tags, params, texts)


def record_range_test(cfg: DictConfig, observer: RunObserver, *, overrides: list[str],
                      parent_run_id: str | None = None, dataset: Dataset | None = None,
                      command: list[str] | None = None) -> tuple[RangeTest, str | None]:
    """The range test told to `observer` as a run of its own; the test and the run id."""
    validate(cfg)
    config = to_container(cfg)
    history = MetricHistory(observer)
    name = redact("lr_find " + (" ".join(overrides) or "defaults"))[:250]
    observer.started(_range_test_start(cfg, config, name, overrides, parent_run_id, command))
    try:
        test = range_test(cfg, dataset, history.recorder(METRICS))
        history.flush()
        if observer.records_files:
            with tempfile.TemporaryDirectory(prefix="nnexp-lr-find-") as work:
                marks: dict[str, float | None] = {"suggested lr": test.suggested_lr,
                         "lowest loss at lr": test.min_loss_lr}
                if test.divergence_lr is not None:
                    marks["diverged at lr"] = test.divergence_lr
                path = plots.lr_range(test.lrs, test.losses, test.smoothed,
                                      Path(work) / Path(PLOT_ARTIFACT).name, marks)
                observer.artifact(path, str(Path(PLOT_ARTIFACT).parent))
    except BaseException as exc:
        history.flush()
        message = (str(exc).splitlines() or [type(exc).__name__])[0]
        observer.ended(RunOutcome(FAILED, {tags.ERROR: f"{type(exc).__name__}: {message}"},
                                  traceback="".join(traceback.format_exception(exc))))
        raise
    observer.ended(RunOutcome(FINISHED, test.tags()))
    return test, observer.run_id
