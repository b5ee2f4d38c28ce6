"""A verdict on a run, from what it logged: is it healthy, and if not, what went wrong.

`diagnose(history)` is a pure function of a run's metric history (`MetricHistory` series or the
`metrics/history.npz` artifact, read with `nnexp.history.load_history`). It checks, in this
order, and names the first finding (others follow as "also: ..." in the evidence):

- `diverged`: the loss or a gradient became NaN or infinite and training stopped.
- `lr_too_high`: the training loss fell (its best is below 0.9x the initial loss) and climbed
  back: it ended 1.5x above its best, by at least 5 % of the initial loss (a loss that rises
  after a fall is a step too big, whatever the update/weight ratio: a small learning rate
  cannot make it climb); or the weights keep moving fast (update/weight ratio above 0.1 per
  epoch in some layer, median over the last half of the epochs) while the loss got worse: the
  training loss ended 1.1x above where it started, or the validation loss 1.5x above its best.
- `exploding_gradients`: some layer's gradient norm is more than 10x its weight norm (median
  over the logged steps), the norm before clipping when the run clips (`optimizer.clip_norm`:
  clipping hides the explosion, it does not cure it).
- `dead_units`: at least half of a ReLU layer's units never fire on the validation set at the
  last epoch.
- `vanishing_gradients`: the first layer's gradient, relative to its weights, is below 1/100 of
  the last layer's (median over the logged steps).
- `lr_too_low`: the training loss never got low (its best, not its last value, is above half
  the initial loss) and the weights barely move (update/weight ratio below 0.02 per epoch in
  every layer, median over the epochs).
- `plateau`: the best training loss is above half the initial loss and the last half of the
  epochs (at least 4) lowered it by less than 5 %, though the weights move.
- `overfitting`: the validation loss ended 1.1x above its best epoch's while the training loss
  kept falling.
- `healthy`: none of the above. `undetermined`: no epoch finished, nothing to judge.
- `uncertain`: the evidence does not support one word, and the verdict says what it saw and
  which verdicts it considered rather than guess: fewer than 3 epochs for a trend verdict
  (`healthy`, `overfitting`); the training loss 1.2-1.5x above its best after a fall in each of
  the last 2 epochs (too little for `lr_too_high`, too much for `healthy`); or a jump of the
  training loss to 2x its best so far (by at least 10 % of the initial loss) in some epoch and
  back, a sign of unstable steps that a `healthy`, `plateau`, `overfitting` or `lr_too_low`
  verdict would hide.

The update/weight ratio is ‖w_end − w_start‖ / ‖w_start‖ of a layer over an epoch
(`update_ratio/<layer>`); the initial loss is `train/loss_step` at step 0. The thresholds are
rules of thumb checked on small networks (digits, moons, xor): a healthy Adam or SGD run on
digits moves its layers 10 % in the first epoch and under 1 % by the thirtieth. They are checked
against a labelled set of runs whose condition is known by construction
(tests/diagnose/labelled_runs.py; `python benchmarks/diagnosis_agreement.py` prints the table).
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
LITTLE_PROGRESS = 0.5  # best training loss / initial loss
FELL = 0.9  # best training loss / initial loss: the loss fell before it rose
MATERIAL_RISE = 0.05  # (final - best training loss) / initial loss: not noise on a tiny loss
SOME_RISE = 1.2  # final / best training loss after a fall: too much for healthy (uncertain)
SOME_RISE_HELD = 2  # ... in each of the last 2 epochs (one epoch's mean loss is noisy)
SPIKE = 2.0  # a training loss this many times its best so far, then back: unstable steps
MATERIAL_SPIKE = 0.1  # (spike - best so far) / initial loss
MIN_EPOCHS = 3  # fewer epochs show no trend: healthy and overfitting become uncertain
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
            "undetermined", "uncertain")


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


def _rose_after_fall(run: _Run, factor: float, held: int = 1) -> str | None:
    """The training loss fell below FELL x the initial loss, then ended `factor` x above its
    best (in each of the last `held` epochs), by more than MATERIAL_RISE of the initial loss."""
    if run.epochs < held or not math.isfinite(run.initial) or run.initial <= 0:
        return None
    best, final = float(run.train.min()), float(run.train[-1])
    if best > FELL * run.initial or float(run.train[-held:].min()) <= factor * best:
        return None
    if final - best < MATERIAL_RISE * run.initial:
        return None
    return (f"train/loss fell from {run.initial:.3g} to {best:.3g} (epoch "
            f"{int(run.train.argmin()) + 1}) and climbed back to {final:.3g} "
            f"({_times(final, best)} its best)")


def _moving(run: _Run) -> str:
    fastest = run.fastest(last_half=True)
    return (f"; update/weight ratio {fastest[1]:.3g} per epoch in {fastest[0]} (median of the "
            "last half of the epochs)") if fastest else ""


def _lr_too_high(run: _Run) -> str | None:
    rose = _rose_after_fall(run, LOSS_ROSE)
    if rose is not None:  # a small step cannot make the loss climb: no ratio needed
        return rose + _moving(run)
    fastest = run.fastest(last_half=True)
    if run.epochs == 0 or fastest is None or fastest[1] <= HIGH_UPDATE_RATIO:
        return None
    signs = []
    final_train = float(run.train[-1])
    if math.isfinite(run.initial) and final_train > WORSE_THAN_START * run.initial:
        signs.append(f"train/loss ended at {final_train:.3g}, above where it started "
                     f"({run.initial:.3g})")
    if run.val.size and float(run.val[-1]) > LOSS_ROSE * float(run.val.min()):
        signs.append(f"val/loss ended {_times(float(run.val[-1]), float(run.val.min()))} above "
                     f"its best (epoch {int(run.val.argmin()) + 1})")
    if not signs:
        return None
    return "; ".join(signs) + _moving(run)


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
    dense = [name for name in run.layers if re.fullmatch(r"layer\d+", name)]  # not bn1, ...
    if len(relative) < 2 or len(dense) < 2:
        return None
    first, last = dense[0], dense[-1]
    if first not in relative or last not in relative or relative[last] <= 0:
        return None
    ratio = relative[first] / relative[last]
    if ratio >= VANISHING_GRADIENT:
        return None
    return (f"{first}'s gradient relative to its weights is {ratio:.2g} of {last}'s "
            f"({relative[first]:.2g} vs {relative[last]:.2g}, median over the logged steps)")


def _left(run: _Run) -> float:
    """The best training loss over the initial loss (nan when either is missing): how low the
    loss ever got, not where it ended (a loss that fell and rose is no slow start)."""
    if run.epochs == 0 or not math.isfinite(run.initial) or run.initial <= 0:
        return math.nan
    return float(run.train.min()) / run.initial


def _lr_too_low(run: _Run) -> str | None:
    fastest = run.fastest(last_half=False)
    left = _left(run)
    if fastest is None or not left > LITTLE_PROGRESS or fastest[1] >= TINY_UPDATE_RATIO:
        return None
    return (f"train/loss never got below {float(run.train.min()):.3g} from {run.initial:.3g} "
            f"({left:.0%} of it at best) and the fastest layer, {fastest[0]}, moves "
            f"{fastest[1]:.2g} of its size per epoch (median)")


def _plateau(run: _Run) -> str | None:
    left = _left(run)
    if run.epochs < PLATEAU_MIN_EPOCHS or not left > LITTLE_PROGRESS:
        return None
    half = run.epochs // 2
    before, after = float(run.train[:half].min()), float(run.train[half:].min())
    fall = (before - after) / before if before > 0 else 0.0
    if fall >= PLATEAU_CHANGE:
        return None
    return (f"train/loss stayed at {float(run.train[-1]):.3g} (best {left:.0%} of the initial "
            f"{run.initial:.3g}); epochs {half + 1}-{run.epochs} lowered its best by {fall:.1%}")


def _spike(run: _Run) -> str | None:
    """The largest jump of the training loss above its best so far, when it is SPIKE x that
    best and more than MATERIAL_SPIKE of the initial loss."""
    if run.epochs < 2 or not math.isfinite(run.initial) or run.initial <= 0:
        return None
    best_before = np.minimum.accumulate(run.train)[:-1]
    later = run.train[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        jump = np.where(best_before > 0, later / best_before, 0.0)
    at = int(np.argmax(jump))
    if not jump[at] >= SPIKE or later[at] - best_before[at] < MATERIAL_SPIKE * run.initial:
        return None
    return (f"train/loss jumped {jump[at]:.3g}x above its best so far at epoch {at + 2} "
            f"({best_before[at]:.3g} -> {later[at]:.3g}) and ended at "
            f"{float(run.train[-1]):.3g}")


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


def _uncertain(run: _Run, name: str) -> str | None:
    """Why a would-be `name` verdict is not supported, or None when it is: too few epochs for
    a trend, or a rise or spike of the training loss that the verdict would hide."""
    if name in ("healthy", "overfitting") and run.epochs < MIN_EPOCHS:
        return (f"only {run.epochs} epoch{'s' if run.epochs > 1 else ''} (train/loss "
                f"{run.initial:.3g} -> {float(run.train[-1]):.3g}): too few to tell a trend; "
                f"considered {name}")
    if name not in ("healthy", "plateau", "overfitting", "lr_too_low"):
        return None
    rose = _rose_after_fall(run, SOME_RISE, held=SOME_RISE_HELD)
    if rose is not None:
        return f"{rose}{_moving(run)}; considered lr_too_high (a smaller rise) and {name}"
    spike = _spike(run)
    if spike is not None:
        return f"{spike}{_moving(run)}; considered lr_too_high (unstable steps) and {name}"
    return None


def _healthy(run: _Run) -> str:
    fastest = run.fastest(last_half=True)
    moving = f"; update/weight ratio {fastest[1]:.2g} per epoch at the end" if fastest else ""
    best = (f", val/loss best {float(run.val.min()):.3g} at epoch "
            f"{int(run.val.argmin()) + 1} of {run.epochs}" if run.val.size else "")
    return f"train/loss {run.initial:.3g} -> {float(run.train[-1]):.3g}{best}{moving}"


def diagnose(history: History, diverged: Mapping[str, str] | None = None) -> Verdict:
    """The verdict on a run from its metric history; `diverged` (what, epoch, step, layer) when
    training stopped on a non-finite value. `uncertain` (with what was seen and the verdicts
    considered) where the history does not support one word."""
    run = _Run(history)
    findings = [(name, text) for name, check in CHECKS if (text := check(run)) is not None]
    if diverged is not None:
        return Verdict("diverged", _diverged(run, diverged), [name for name, _ in findings])
    if run.epochs == 0:
        return Verdict("undetermined", "no epoch finished")
    (name, text), rest = findings[0] if findings else ("healthy", _healthy(run)), findings[1:]
    doubt = _uncertain(run, name)
    if doubt is not None:
        return Verdict("uncertain", doubt, [other for other, _ in findings])
    return Verdict(name, text, [other for other, _ in rest])
