"""What a run prints: one line an epoch, and at the end the results and where the record went.

Lines go through Python logging (nnexp.logs), so Hydra writes them to the console and to the job's
`train.log` alike.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from nnexp.config.metric_catalogue import LAST_EPOCH_SUFFIX
from nnexp.experiment import logs  # noqa: F401 - prints nnexp's lines where nobody configured logging
from nnexp.experiment.line_fit import LEARNED_A, LEARNED_B
from nnexp.experiment.observer import FINISHED, RunObserver, RunOutcome, RunStart
from nnexp.record import tags

log = logging.getLogger("nnexp.console")  # its name before the package had rooms
TRUTH_PARAM = "dataset.true_"  # + a, b: what generated a synthetic set


def say(text: str, *, error: bool = False) -> None:
    """One line for the user: INFO on stdout, or a warning on stderr."""
    (log.warning if error else log.info)(text)


def say_start(summary: str, notes: list[str]) -> None:
    """The network in one line, and what the user should know about their data."""
    say(f"model: {summary}")
    for note in (n for n in notes if "convert" in n or n.startswith("data.task:")):
        say(f"note: {note}", error=True)


def number(value: float) -> str:
    """Four decimals, or scientific notation for values that would not fit (a diverging loss)."""
    if math.isfinite(value) and value != 0 and not 1e-4 <= abs(value) < 1e5:
        return f"{value:.3e}"
    return f"{value:.4f}"


class ConsoleObserver(RunObserver):
    """Progress on the terminal; `store` (if any) says at the end where the record is."""

    def __init__(self, store: RunObserver | None = None) -> None:
        self.store = store
        self._epochs = 0
        self._truth: dict[str, str] = {}
        self._patience = "?"

    def started(self, start: RunStart) -> None:
        self._epochs = start.plan.epochs
        self._truth = {k[len(TRUTH_PARAM):]: v for k, v in start.params.items()
                       if k.startswith(TRUTH_PARAM)}
        self._patience = start.params.get("train.patience", "?")

    def epoch_ended(self, epoch: int, step: int, values: Mapping[str, float]) -> None:
        width = len(str(self._epochs))
        shown = "  ".join(f"{k} {number(v)}" for k, v in values.items()
                          if k.startswith(("train/", "val/")))
        say(f"epoch {epoch:>{width}}/{self._epochs}  {shown}  lr {values['lr']:.3g}")

    def ended(self, outcome: RunOutcome) -> None:
        where = self.store.summary_line() if self.store is not None else None
        verdict = outcome.tags.get(tags.VERDICT)
        if verdict:
            say(f"verdict: {verdict}: {outcome.tags.get(tags.VERDICT_EVIDENCE, '')}")
        if outcome.status == FINISHED:
            shown = "  ".join(f"{k} {number(v)}" for k, v in outcome.metrics.items()
                              if k.startswith(("val/", "test/"))
                              and not k.endswith(LAST_EPOCH_SUFFIX))
            say(f"done in {outcome.seconds:.2f} s ({outcome.epochs_run} epochs)  {shown}")
            if tags.KEPT_EPOCH in outcome.tags:
                say(self._kept(outcome))
            if LEARNED_A in outcome.metrics:
                say(self._line(outcome.metrics[LEARNED_A], outcome.metrics[LEARNED_B]))
            where = where or "tracking off: nothing recorded"
        for line in (where or "").splitlines():
            say(line)

    def _kept(self, outcome: RunOutcome) -> str:
        """`stopped early at epoch 12 (patience 4): kept epoch 8's weights (val/loss 0.2627;
        epoch 12's 0.2948)`: which weights the final values, test/* and the model are."""
        kept, last = outcome.tags[tags.KEPT_EPOCH], outcome.epochs_run
        how = (f"stopped early at epoch {last} (patience {self._patience})"
               if outcome.tags.get(tags.STOPPED_EARLY) == "true"
               else f"trained {last} epochs (patience {self._patience})")
        values = outcome.metrics
        loss = (f" (val/loss {number(values['val/loss'])}; epoch {last}'s "
                f"{number(values['val/loss' + LAST_EPOCH_SUFFIX])})"
                if {"val/loss", "val/loss" + LAST_EPOCH_SUFFIX} <= set(values) else "")
        return f"{how}: kept epoch {kept}'s weights{loss}"

    def _line(self, a: float, b: float) -> str:
        """`y = a*x + b: learned a = 2.0262, b = -1.0016   true a = 2, b = -1`."""
        learned = f"y = a*x + b: learned a = {a:.4f}, b = {b:.4f}"
        if {"a", "b"} <= set(self._truth):
            true_a, true_b = (float(self._truth[k]) for k in ("a", "b"))
            return f"{learned}   true a = {true_a:g}, b = {true_b:g}"
        return learned
