"""Ctrl-C and SIGTERM during a run: the first stops training at a safe point, a second kills.

Interruption is a domain event: the experiment ends its run KILLED with the latest weights, and
observers only hear about it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class RunStopped(BaseException):
    """Training stopped on purpose between two steps; the run ends KILLED with this reason."""


class RunInterrupted(RunStopped):
    """Raised between training steps when SIGINT or SIGTERM arrived; the run ends KILLED."""

    def __init__(self, signame: str) -> None:
        super().__init__(f"interrupted by {signame}")
        self.signame = signame

    def __reduce__(self) -> tuple[type, tuple[str]]:  # crosses process pools as itself
        return type(self), (self.signame,)


received: list[str] = []  # names of the signals that stopped a run in this process


class InterruptFlag:
    """Turns the first SIGINT/SIGTERM into RunInterrupted at a safe point; a second one kills.

    While `deferred` is true (inside the training loop) the signal only sets `signame`, and the
    loop raises between steps, so the weights it saves are never half-updated.
    """

    def __init__(self) -> None:
        self.signame: str | None = None
        self.deferred = False

    def handle(self, signum: int, _frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.signame = signal.Signals(signum).name
        received.append(self.signame)
        if not self.deferred:
            raise RunInterrupted(self.signame)

    def check(self) -> None:
        """Raise RunInterrupted if a signal arrived since the last check."""
        if self.signame is not None:
            raise RunInterrupted(self.signame)


@contextmanager
def interrupts_stop_run() -> Iterator[InterruptFlag]:
    """Route SIGINT/SIGTERM to an InterruptFlag while a run lasts (main thread only)."""
    flag = InterruptFlag()
    try:
        previous = {s: signal.signal(s, flag.handle) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (some launchers): leave signals alone
        yield flag
        return
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
