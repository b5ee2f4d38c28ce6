"""What a run prints: one line an epoch, and at the end the results and where the record went.

Lines go through Python logging (nnexp.logs), so Hydra writes them to the console and to the job's
`train.log` alike.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from nnexp import logs  # noqa: F401 - prints nnexp's lines where nobody configured logging
from nnexp.observer import FINISHED, RunObserver, RunOutcome, RunStart
from nnexp.tracking import tags

log = logging.getLogger(__name__)


def say(text: str, *, error: bool = False) -> None:
    """One line for the user: INFO on stdout, or a warning on stderr."""
    (log.warning if error else log.info)(text)


class ConsoleObserver(RunObserver):
    """Progress on the terminal; `store` (if any) says at the end where the record is."""

    def __init__(self, store: RunObserver | None = None) -> None:
        self.store = store
        self._epochs = 0

    def started(self, start: RunStart) -> None:
        self._epochs = start.plan.epochs

    def epoch_ended(self, epoch: int, step: int, values: Mapping[str, float]) -> None:
        width = len(str(self._epochs))
        shown = "  ".join(f"{k} {v:.4f}" for k, v in values.items()
                          if k.startswith(("train/", "val/")))
        say(f"epoch {epoch:>{width}}/{self._epochs}  {shown}  lr {values['lr']:.3g}")

    def ended(self, outcome: RunOutcome) -> None:
        verdict = outcome.tags.get(tags.VERDICT)
        if outcome.status != FINISHED:
            if verdict:
                say(f"verdict: {verdict}: {outcome.tags.get(tags.VERDICT_EVIDENCE, '')}")
            return
        shown = "  ".join(f"{k} {v:.4f}" for k, v in outcome.metrics.items()
                          if k.startswith(("val/", "test/")))
        where = self.store.summary_line() if self.store is not None else None
        if verdict:
            say(f"verdict: {verdict}: {outcome.tags.get(tags.VERDICT_EVIDENCE, '')}")
        say(f"done in {outcome.seconds:.2f} s ({outcome.epochs_run} epochs)  {shown}")
        say(where or "tracking off: nothing recorded")
