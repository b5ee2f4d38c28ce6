"""`python -m nnexp.lr_find`: the learning-rate range test (Leslie Smith) on any config.

    python -m nnexp.lr_find                                  # the default experiment
    python -m nnexp.lr_find optimizer=sgd model.hidden=[128,64] lr_find.steps=200

One short run trains the config's network from its initialisation, with the config's optimizer,
while the learning rate grows exponentially from `lr_find.min_lr` to `lr_find.max_lr` over
`lr_find.steps` steps (the config's `lr` and schedule are not used). Every step's training loss
is recorded with its exponential moving average (`lr_find.smoothing`, bias-corrected); the test
stops early where the loss diverges: the smoothed loss above `lr_find.diverge_factor` times its
best, or a loss that is not finite.

The suggestion is a tenth of the learning rate at the lowest smoothed loss. The loss turns up
past that point, and a tenth keeps clear of it while staying within a factor of ten of the
fastest rate that still learned (Smith's and fastai's rule of thumb). The steepest descent point
is printed too; being the slope of a noisy curve, it moves more from one seed to the next.

The run (tag `nnexp.lr_find=range_test`) holds the metrics `lr_find/lr`, `lr_find/loss` and
`lr_find/smoothed_loss` at every step, the plot `lr_find/lr_range.png` and the points as tags.
In a sweep, `sweep.skip_lr_above=auto` runs the test once per configuration (its values apart
from lr, seed and schedule) and skips the jobs whose lr is above its divergence point.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from nnexp import engine
from nnexp.run.build import (
    build_network,
    build_optimizer,
    choose_loss,
    load_data,
    make_observer,
    targets_for,
)
from nnexp.cli import run_cli
from nnexp.config import ConfigError, register_configs, to_container, validate
from nnexp.data import Dataset
from nnexp.run.history import MetricHistory
from nnexp.run.observer import FAILED, FINISHED, RunOutcome, RunPlan, RunStart
from nnexp.config.paths import conf_dir
from nnexp.record import plots, tags
from nnexp.record.params import flatten
from nnexp.record.provenance import provenance_tags
from nnexp.record.redact import redact
from nnexp.tracking.store import resolve_tracking_uri

register_configs()
PROG = "nnexp.lr_find"
PLOT_ARTIFACT = "lr_find/lr_range.png"
METRICS = ("lr_find/lr", "lr_find/loss", "lr_find/smoothed_loss")
# what a test's outcome does not depend on: its own schedule replaces lr and the config's one
KEY_EXCLUDES = ("tracking", "sweep", "gradcheck", "lr", "seed", "schedule")
KEY_EXCLUDES_TRAIN = ("epochs", "patience")


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
    def suggested_lr(self) -> float:
        return self.min_loss_lr / 10

    def tags(self) -> dict[str, str]:
        steepest = self.steepest_lr
        return {tags.LR_FIND_SUGGESTED: repr(self.suggested_lr),
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
    growth = (float(cfg.lr_find.max_lr) / min_lr) ** (1 / (steps - 1))
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
                                   schedule=lambda t: min_lr * growth ** t, step0=step,
                                   clip_norm=cfg.optimizer.clip_norm, on_step=on_step)
                step += -(-X.shape[0] // cfg.train.batch_size)
        except _Stop:
            pass
    if not lrs:
        raise ConfigError(f"lr_find.min_lr: the loss is not finite already at lr "
                          f"{min_lr:g}; lower it")
    return RangeTest(np.array(lrs), np.array(losses), np.array(smoothed), state["stopped"],
                     state["divergence"])


def _run_start(cfg: DictConfig, config: dict[str, Any], name: str, overrides: list[str],
               parent_run_id: str | None, command: list[str] | None) -> RunStart:
    """The record of a range test: its config and provenance, tagged as a range test (and
    without the config hash, so it never answers for a training run)."""
    provenance, _ = provenance_tags(command)
    run_tags = {**provenance, tags.LR_FIND: "range_test", tags.LR_FIND_KEY: range_test_key(config),
                tags.SEED: str(cfg.seed), tags.OVERRIDES: " ".join(overrides) or "(none)"}
    texts = {"config.yaml": OmegaConf.to_yaml(OmegaConf.create(config)),
             "overrides.yaml": OmegaConf.to_yaml(OmegaConf.create(list(overrides)))}
    plan = RunPlan(total_steps=cfg.lr_find.steps, epochs=1, log_every_n_steps=1)
    return RunStart(name, cfg.tracking.experiment, plan, parent_run_id, run_tags,
                    flatten(config), texts)


def run_range_test(cfg: DictConfig, *, overrides: list[str], parent_run_id: str | None = None,
                   dataset: Dataset | None = None, command: list[str] | None = None
                   ) -> tuple[RangeTest, str | None]:
    """The range test recorded as its own run (when tracking is on); the test and the run id."""
    validate(cfg)
    config = to_container(cfg)
    uri = resolve_tracking_uri(cfg.tracking.uri, probe=False) if cfg.tracking.enabled else None
    observer = make_observer(cfg, uri, verbose=False)
    history = MetricHistory(observer)
    name = redact("lr_find " + (" ".join(overrides) or "defaults"))[:250]
    observer.started(_run_start(cfg, config, name, overrides, parent_run_id, command))
    try:
        test = range_test(cfg, dataset, history.recorder(METRICS))
        history.flush()
        if observer.records_files:
            with tempfile.TemporaryDirectory(prefix="nnexp-lr-find-") as work:
                marks = {"suggested lr": test.suggested_lr,
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


def learning_rate_limit(cfg: DictConfig, config: dict[str, Any], uri: str | None,
                        dataset: Dataset, parent_run_id: str | None, overrides: list[str],
                        command: list[str] | None) -> tuple[float | None, str]:
    """`sweep.skip_lr_above`: the largest learning rate worth training, and where it comes from.

    A number is taken as it is. `auto` is the divergence point of the configuration's range
    test: a recorded one when the store has it, else one run now (recorded under the sweep's
    parent), so the jobs of a sweep that differ only in lr and seed share one test."""
    given = cfg.sweep.skip_lr_above
    if given != "auto":
        return float(given), f"sweep.skip_lr_above={given}"
    found = None
    key = range_test_key(config)
    if uri is not None:
        from nnexp.sweep.range_tests import recorded_range_test

        found = recorded_range_test(uri, cfg.tracking.experiment, key)
    if found is None:
        test, run_id = run_range_test(cfg, overrides=_without_lr(overrides),
                                      parent_run_id=parent_run_id, dataset=dataset,
                                      command=command)
        found = (run_id or "not recorded", test.divergence_lr)
    run_id, divergence = found
    if divergence is None:
        return None, (f"the lr range test (run {run_id}) saw no divergence up to "
                      f"lr_find.max_lr={cfg.lr_find.max_lr:g}")
    return divergence, f"{divergence:.4g}, where the lr range test (run {run_id}) diverged"


def _without_lr(overrides: list[str]) -> list[str]:
    """Overrides minus those of lr and of the range test itself."""
    keys = [o.split("=", 1)[0].lstrip("+~") for o in overrides]
    return [o for o, key in zip(overrides, keys, strict=True)
            if key != "lr" and not key.startswith("lr_find.")]


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def lr_find(cfg: DictConfig) -> None:
    """Run the range test on the composed config and print what it suggests."""
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task)
    test, run_id = run_range_test(cfg, overrides=overrides,
                                  command=["python", "-m", PROG, *sys.argv[1:]])
    steepest = test.steepest_lr
    print(f"lr range test: {test.lrs.size} steps, lr {test.lrs[0]:.3g} -> {test.lrs[-1]:.3g} "
          f"({cfg.optimizer.name}, batch {cfg.train.batch_size}); stopped: {test.stopped}")
    print(f"  lowest smoothed loss {test.smoothed.min():.4g} at lr {test.min_loss_lr:.3g}"
          + (f"; steepest descent at lr {steepest:.3g}" if steepest is not None else "")
          + (f"; diverged at lr {test.divergence_lr:.3g}" if test.divergence_lr is not None
             else "; no divergence up to lr_find.max_lr"))
    print(f"suggested lr: {test.suggested_lr:.2g} (a tenth of the lr at the lowest smoothed loss: "
          "clear of where the loss turns up)")
    print("  " + " ".join(["python", "-m", "nnexp.train", *_without_lr(overrides),
                           f"lr={test.suggested_lr:.2g}"]))
    if run_id is not None:
        print(f"run {run_id}: loss against lr in {PLOT_ARTIFACT}")


def main() -> None:
    run_cli(lr_find, PROG)


if __name__ == "__main__":
    main()
