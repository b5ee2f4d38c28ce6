"""Pruning: stop a run at an epoch boundary when its siblings in a sweep show it is hopeless.

The experiment asks a `Pruner` at each epoch's end (`should_stop`); where the siblings' values
come from is the pruner's business (`nnexp.sweeps.store_pruner` reads them from the tracking
store). The rules here are plain functions of numbers, after Optuna's pruners:

- `median`: Optuna's MedianPruner. After `warmup_epochs` epochs, and once `startup_runs`
  siblings have finished, a run is stopped when its best value so far is worse than the median
  of the finished siblings' values at the same epoch (needing `min_siblings` of them there).
- `asha`: Optuna's SuccessiveHalvingPruner (asynchronous successive halving). At rung k
  (`min_epochs * reduction_factor**k` epochs trained) a run continues only if its value is among
  the best 1/reduction_factor of every sibling that reached that rung, whatever its status
  (at least the best one when fewer than reduction_factor have).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nnexp.experiment.pruner import Pruned, Pruner, StopAtEpoch  # noqa: F401  (what the rules answer)


@dataclass(frozen=True)
class PruneSettings:
    """A sweep's pruning rule and its parameters (`sweep.prune*` keys)."""

    rule: str
    objective: str
    direction: str  # "minimize" or "maximize"
    warmup_epochs: int = 5  # median: the first epochs are never pruned (Optuna n_warmup_steps)
    startup_runs: int = 5  # median: finished siblings needed first (Optuna n_startup_trials)
    min_siblings: int = 1  # median: siblings with a value at the epoch (Optuna n_min_trials)
    interval: int = 1  # median: epochs between checks after the warm-up (Optuna interval_steps)
    min_epochs: int = 1  # asha: epochs before the first rung (Optuna min_resource)
    reduction_factor: int = 4  # asha: keep the best 1/reduction_factor at each rung


def prune_settings(sweep: Any) -> PruneSettings:
    """The settings of a config's `sweep` node (`cfg.sweep`)."""
    return PruneSettings(
        sweep.prune, sweep.objective, sweep.direction, warmup_epochs=sweep.prune_warmup_epochs,
        startup_runs=sweep.prune_startup_runs, min_siblings=sweep.prune_min_siblings,
        interval=sweep.prune_interval, min_epochs=sweep.prune_min_epochs,
        reduction_factor=sweep.prune_reduction_factor)


def pruning_outlook(settings: PruneSettings, children: int | None, epochs: int) -> str:
    """The sweep's first word on pruning: when a child can be pruned, or why none can as the
    sweep is configured (`children`: how many the sweeper will launch, None if it does not say).
    """
    many = "" if children is None else f"{children} child{'' if children == 1 else 'ren'}, "
    if settings.rule == "median":
        if epochs <= settings.warmup_epochs:
            return (f"pruning: {many}train.epochs={epochs}, sweep.prune_warmup_epochs="
                    f"{settings.warmup_epochs}: no child can be pruned (median decides only "
                    "after the warm-up epochs)")
        if children is not None and children <= settings.startup_runs:
            return (f"pruning: {many}sweep.prune_startup_runs={settings.startup_runs}: no child "
                    f"can be pruned (median waits for {settings.startup_runs} finished siblings; "
                    "lower sweep.prune_startup_runs or launch more children)")
        return (f"pruning: {many}median: a child may stop after epoch {settings.warmup_epochs} "
                f"once {max(settings.startup_runs, 1)} of its siblings have finished")
    rungs = [settings.min_epochs * settings.reduction_factor ** k for k in range(64)
             if settings.min_epochs * settings.reduction_factor ** k <= epochs]
    if not rungs:
        return (f"pruning: {many}train.epochs={epochs}, sweep.prune_min_epochs="
                f"{settings.min_epochs}: no child can be pruned (asha's first rung is after "
                "the last epoch)")
    if children is not None and children < 2:
        return f"pruning: {many}no child can be pruned (asha compares siblings)"
    return (f"pruning: {many}asha: at epoch{'s' if len(rungs) > 1 else ''} "
            f"{', '.join(map(str, rungs))} a child goes on only among the best "
            f"1/{settings.reduction_factor} of the siblings there")


def is_decision_epoch(settings: PruneSettings, epoch: int) -> bool:
    """Whether the rule looks at this epoch (median: after the warm-up, every `interval`
    epochs; asha: at the rungs). Values are published at these epochs only."""
    if settings.rule == "median":
        return epoch > settings.warmup_epochs and (
            (epoch - 1 - settings.warmup_epochs) % settings.interval == 0)
    return rung_of(settings, epoch) is not None


def rung_of(settings: PruneSettings, epoch: int) -> int | None:
    """The asha rung whose promotion epoch this is (min_epochs * reduction_factor**k), if any."""
    k, at = 0, settings.min_epochs
    while at < epoch:
        k, at = k + 1, at * settings.reduction_factor
    return k if at == epoch else None


def _worse(a: float, b: float, direction: str) -> bool:
    return a < b if direction == "maximize" else a > b


def median_decision(settings: PruneSettings, epoch: int, own: Sequence[float],
                    finished: Sequence[Mapping[int, float]]) -> Pruned | None:
    """Optuna's median rule. `own`: this run's values at its epochs so far (the last is this
    epoch's); `finished`: each finished sibling's values by epoch (at decision epochs)."""
    if len(finished) == 0 or len(finished) < settings.startup_runs:
        return None
    if not is_decision_epoch(settings, epoch):
        return None
    finite = [v for v in own if not math.isnan(v)]
    if not finite:
        return Pruned(epoch, "median", math.nan, math.nan, len(finished))
    best = max(finite) if settings.direction == "maximize" else min(finite)
    at_epoch = [s[epoch] for s in finished if epoch in s and not math.isnan(s[epoch])]
    if len(at_epoch) < settings.min_siblings or not at_epoch:
        return None
    median = statistics.median(at_epoch)
    if _worse(best, median, settings.direction):
        return Pruned(epoch, "median", best, median, len(at_epoch))
    return None


def asha_decision(settings: PruneSettings, epoch: int, value: float,
                  competing: Sequence[float]) -> Pruned | None:
    """Optuna's successive-halving rule at a rung epoch: `competing` holds the values every
    sibling published at this rung (this run's excluded)."""
    if rung_of(settings, epoch) is None:
        return None
    if math.isnan(value):
        return Pruned(epoch, "asha", value, math.nan, len(competing))
    values = sorted([*(v for v in competing if not math.isnan(v)), value])
    keep = max(len(values) // settings.reduction_factor, 1)
    if settings.direction == "maximize":
        threshold = values[-keep]
        promoted = value >= threshold
    else:
        threshold = values[keep - 1]
        promoted = value <= threshold
    return None if promoted else Pruned(epoch, "asha", value, threshold, len(competing))
