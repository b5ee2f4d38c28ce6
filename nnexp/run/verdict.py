"""A verdict on a run, from what it logged: is it healthy, and if not, what went wrong.

`diagnose(history)` is a pure function of a run's metric history (`MetricHistory` series or the
`metrics/history.npz` artifact, read with `nnexp.history.load_history`). It checks, in this
order, and names the first finding (others follow as "also: ..." in the evidence):

- `diverged`: the loss or a gradient became NaN or infinite and training stopped.
- `lr_too_high`: the weights keep moving fast (update/weight ratio above 0.1 per epoch in some
  layer, median over the last half of the epochs) while the loss got worse: the training loss
  ended 1.5x above its best or 1.1x above where it started, or the validation loss ended 1.5x
  above its best.
- `exploding_gradients`: some layer's gradient norm is more than 10x its weight norm (median
  over the logged steps), the norm before clipping when the run clips (`optimizer.clip_norm`:
  clipping hides the explosion, it does not cure it).
- `dead_units`: at least half of a ReLU layer's units never fire on the validation set at the
  last epoch.
- `vanishing_gradients`: the first layer's gradient, relative to its weights, is below 1/100 of
  the last layer's (median over the logged steps).
- `lr_too_low`: more than half of the initial loss is left and the weights barely move
  (update/weight ratio below 0.02 per epoch in every layer, median over the epochs).
- `plateau`: more than half of the initial loss is left and the last half of the epochs (at
  least 4) lowered the training loss by less than 5 %, though the weights move.
- `overfitting`: the validation loss ended 1.1x above its best epoch's while the training loss
  kept falling.
- `healthy`: none of the above. `undetermined`: no epoch finished, nothing to judge.

The update/weight ratio is ‖w_end − w_start‖ / ‖w_start‖ of a layer over an epoch
(`update_ratio/<layer>`); the initial loss is `train/loss_step` at step 0. The thresholds are
rules of thumb checked on small networks (digits, moons, xor): a healthy Adam or SGD run on
digits moves its layers 10 % in the first epoch and under 1 % by the thirtieth.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnexp.record import tags

History = Mapping[str, tuple[np.ndarray, np.ndarray]]  # key -> (steps, values)

HIGH_UPDATE_RATIO = 0.1  # per epoch, median over the last half of the epochs, fastest layer
TINY_UPDATE_RATIO = 0.02  # per epoch, median over the epochs, fastest layer
LOSS_ROSE = 1.5  # final loss / best loss
WORSE_THAN_START = 1.1  # final training loss / initial loss
LITTLE_PROGRESS = 0.5  # final training loss / initial loss
PLATEAU_CHANGE = 0.05  # relative fall of the training loss over the last half of the epochs
PLATEAU_MIN_EPOCHS = 4
OVERFIT_RISE = 1.1  # final validation loss / best validation loss
DEAD_FRACTION = 0.5
EXPLODING_GRADIENT = 10.0  # ‖g‖ / ‖w‖ of a layer, median over the logged steps
VANISHING_GRADIENT = 1e-2  # (‖g‖/‖w‖ of the first layer) / (‖g‖/‖w‖ of the last layer)

LAYER_SERIES = ("grad_norm/", "grad_norm_unclipped/", "weight_norm/", "update_ratio/",
                "dead_units/")
VERDICTS = ("diverged", "lr_too_high", "exploding_gradients", "dead_units",
            "vanishing_gradients", "lr_too_low", "plateau", "overfitting", "healthy",
            "undetermined")


@dataclass(frozen=True)
class Verdict:
    """One name from VERDICTS, and the numbers that led to it."""

    name: str
    evidence: str
    also: list[str] = field(default_factory=list)

    def tags(self) -> dict[str, str]:
        """The verdict as run tags."""
        evidence = self.evidence + (f" (also: {', '.join(self.also)})" if self.also else "")
        return {tags.VERDICT: self.name, tags.VERDICT_EVIDENCE: evidence[:tags.MAX_VALUE_CHARS]}


def _layer_key(name: str) -> tuple[int, str]:
    found = re.fullmatch(r"layer(\d+)", name)
    return (int(found.group(1)), name) if found else (1 << 30, name)


class _Run:
    """The series a diagnosis reads, with the small statistics it needs."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.layers = sorted({k.split("/", 1)[1] for k in history if k.startswith(LAYER_SERIES)},
                             key=_layer_key)
        self.train = self.values("train/loss")
        self.val = self.values("val/loss")
        self.epochs = self.train.size
        steps = self.values("train/loss_step")
        self.initial = float(steps[0]) if steps.size else math.nan

    def values(self, key: str) -> np.ndarray:
        """The values of `key` as training measured them: a last value at the same step as the
        one before it (the kept weights' loss of a run with patience, logged after the last
        epoch's, as `metrics/history.npz` holds it) is left out."""
        steps, values = self.history.get(key, ((), ()))
        values = np.asarray(values, np.float64)
        if len(steps) > 1 and steps[-1] == steps[-2]:
            return values[:-1]
        return values

    def per_layer(self, prefix: str) -> dict[str, np.ndarray]:
        return {name: v for name in self.layers if (v := self.values(f"{prefix}/{name}")).size}

    def fastest(self, last_half: bool) -> tuple[str, float] | None:
        """The layer whose median update/weight ratio is largest, and that median."""
        medians = {name: float(np.median(v[v.size // 2:] if last_half else v))
                   for name, v in self.per_layer("update_ratio").items()}
        return max(medians.items(), key=lambda item: item[1]) if medians else None

    def relative_gradients(self) -> dict[str, float]:
        """Median over the logged steps of ‖g‖/‖w‖ for each layer, the weight norm taken at
        the end of the epoch the step belongs to (layers with zero weights are left out); ‖g‖
        before clipping when the run clipped (`grad_norm_unclipped/`), as backward left it."""
        result = {}
        for name in self.layers:
            g_steps, grads = self.history.get(f"grad_norm_unclipped/{name}",
                                              self.history.get(f"grad_norm/{name}", ((), ())))
            w_steps, weights = self.history.get(f"weight_norm/{name}", ((), ()))
            if len(grads) == 0 or len(weights) == 0:
                continue
            at = np.minimum(np.searchsorted(np.asarray(w_steps), np.asarray(g_steps)),
                            len(weights) - 1)
            w = np.asarray(weights, np.float64)[at]
            ratio = np.asarray(grads, np.float64)[w > 0] / w[w > 0]
            if ratio.size:
                result[name] = float(np.median(ratio))
        return result


def _times(a: float, b: float) -> str:
    return f"{a / b:.3g}x" if b > 0 else "from 0"


def _diverged(run: _Run, where: Mapping[str, str]) -> str:
    place = ", ".join(f"{k} {v}" for k, v in where.items() if k != "what")
    text = f"{where.get('what', 'non-finite values')} ({place})"
    steps = run.values("train/loss_step")
    if steps.size > 1:
        text += f"; train/loss_step went from {steps[0]:.3g} to {steps[-1]:.3g} before it"
    fastest = run.fastest(last_half=True)
    if fastest and fastest[1] > HIGH_UPDATE_RATIO:
        text += f"; update/weight ratio {fastest[1]:.3g} per epoch in {fastest[0]}"
    return text


def _lr_too_high(run: _Run) -> str | None:
    fastest = run.fastest(last_half=True)
    if run.epochs == 0 or fastest is None or fastest[1] <= HIGH_UPDATE_RATIO:
        return None
    signs = []
    best_train, final_train = float(run.train.min()), float(run.train[-1])
    if final_train > LOSS_ROSE * best_train:
        signs.append(f"train/loss ended {_times(final_train, best_train)} above its best "
                     f"({final_train:.3g} vs {best_train:.3g} at epoch "
                     f"{int(run.train.argmin()) + 1})")
    if math.isfinite(run.initial) and final_train > WORSE_THAN_START * run.initial:
        signs.append(f"train/loss ended at {final_train:.3g}, above where it started "
                     f"({run.initial:.3g})")
    if run.val.size and float(run.val[-1]) > LOSS_ROSE * float(run.val.min()):
        signs.append(f"val/loss ended {_times(float(run.val[-1]), float(run.val.min()))} above "
                     f"its best (epoch {int(run.val.argmin()) + 1})")
    if not signs:
        return None
    return "; ".join(signs) + (f"; update/weight ratio {fastest[1]:.3g} per epoch in "
                               f"{fastest[0]} (median of the last half of the epochs)")


def _exploding(run: _Run) -> str | None:
    relative = run.relative_gradients()
    if not relative:
        return None
    name, worst = max(relative.items(), key=lambda item: item[1])
    if worst <= EXPLODING_GRADIENT:
        return None
    return (f"gradient norm {worst:.3g}x the weight norm in {name} (median over the logged "
            "steps): one SGD step of lr 0.1 would move the weights further than their size")


def _dead_units(run: _Run) -> str | None:
    dead = {name: float(v[-1]) for name, v in run.per_layer("dead_units").items()}
    found = [f"{fraction:.0%} of {name}'s units" for name, fraction in dead.items()
             if fraction >= DEAD_FRACTION]
    if not found:
        return None
    return f"{', '.join(found)} never fire on the validation set (at the last epoch)"


def _vanishing(run: _Run) -> str | None:
    relative = run.relative_gradients()
    if len(relative) < 2 or len(run.layers) < 2:
        return None
    first, last = run.layers[0], run.layers[-1]
    if first not in relative or last not in relative or relative[last] <= 0:
        return None
    ratio = relative[first] / relative[last]
    if ratio >= VANISHING_GRADIENT:
        return None
    return (f"{first}'s gradient relative to its weights is {ratio:.2g} of {last}'s "
            f"({relative[first]:.2g} vs {relative[last]:.2g}, median over the logged steps)")


def _progress(run: _Run) -> float:
    """Final training loss over the initial loss (nan when either is missing)."""
    if run.epochs == 0 or not math.isfinite(run.initial) or run.initial <= 0:
        return math.nan
    return float(run.train[-1]) / run.initial


def _lr_too_low(run: _Run) -> str | None:
    fastest = run.fastest(last_half=False)
    left = _progress(run)
    if fastest is None or not left > LITTLE_PROGRESS or fastest[1] >= TINY_UPDATE_RATIO:
        return None
    return (f"train/loss went only from {run.initial:.3g} to {float(run.train[-1]):.3g} "
            f"({left:.0%} left) and the fastest layer, {fastest[0]}, moves "
            f"{fastest[1]:.2g} of its size per epoch (median)")


def _plateau(run: _Run) -> str | None:
    left = _progress(run)
    if run.epochs < PLATEAU_MIN_EPOCHS or not left > LITTLE_PROGRESS:
        return None
    half = run.epochs // 2
    mid, final = float(run.train[half - 1]), float(run.train[-1])
    fall = (mid - final) / mid if mid > 0 else 0.0
    if fall >= PLATEAU_CHANGE:
        return None
    return (f"train/loss stayed at {final:.3g} ({left:.0%} of the initial {run.initial:.3g}); "
            f"epochs {half + 1}-{run.epochs} lowered it by {fall:.1%}")


def _overfitting(run: _Run) -> str | None:
    if run.val.size < 2:
        return None
    best = int(run.val.argmin())
    best_val, final_val = float(run.val[best]), float(run.val[-1])
    if final_val < OVERFIT_RISE * best_val or best == run.val.size - 1:
        return None
    if not float(run.train[-1]) < float(run.train[best]):
        return None
    return (f"val/loss rose {_times(final_val, best_val)} after its best at epoch {best + 1} "
            f"({best_val:.3g} -> {final_val:.3g}) while train/loss fell "
            f"{float(run.train[best]):.3g} -> {float(run.train[-1]):.3g}")


CHECKS: tuple[tuple[str, Callable[[_Run], str | None]], ...] = (
    ("lr_too_high", _lr_too_high),
    ("exploding_gradients", _exploding),
    ("dead_units", _dead_units),
    ("vanishing_gradients", _vanishing),
    ("lr_too_low", _lr_too_low),
    ("plateau", _plateau),
    ("overfitting", _overfitting),
)


def history_of(recorded: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{key: (steps, values)} of a `MetricHistory` (what `diagnose` reads)."""
    return {key: recorded.series(key) for key in recorded.keys()}


def diagnose(history: History, diverged: Mapping[str, str] | None = None) -> Verdict:
    """The verdict on a run from its metric history; `diverged` (what, epoch, step, layer) when
    training stopped on a non-finite value."""
    run = _Run(history)
    findings = [(name, text) for name, check in CHECKS if (text := check(run)) is not None]
    if diverged is not None:
        return Verdict("diverged", _diverged(run, diverged), [name for name, _ in findings])
    if run.epochs == 0:
        return Verdict("undetermined", "no epoch finished")
    if not findings:
        fastest = run.fastest(last_half=True)
        moving = f"; update/weight ratio {fastest[1]:.2g} per epoch at the end" if fastest else ""
        best = (f", val/loss best {float(run.val.min()):.3g} at epoch "
                f"{int(run.val.argmin()) + 1} of {run.epochs}" if run.val.size else "")
        return Verdict("healthy", f"train/loss {run.initial:.3g} -> {float(run.train[-1]):.3g}"
                                  f"{best}{moving}")
    (name, text), rest = findings[0], findings[1:]
    return Verdict(name, text, [other for other, _ in rest])
