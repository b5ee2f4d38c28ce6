"""Ctrl-C and SIGTERM during a run: the first stops training at a safe point, a second stops
the ending short (no weights saved, a last wait of LAST_WAIT_SECONDS for the store: the run
still ends KILLED, in the store or in its journal), a third kills.

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
        self.hurried = False  # a second signal cut the run's ending short: no weights saved

    def __reduce__(self) -> tuple[type, tuple[str]]:  # crosses process pools as itself
        return type(self), (self.signame,)


received: list[str] = []  # names of the signals that stopped a run in this process
LAST_WAIT_SECONDS = 5.0  # how long a run stopped by a second signal waits for its store


class InterruptFlag:
    """Turns the first SIGINT/SIGTERM into RunInterrupted at a safe point; a second one kills,
    or, with `second_kills` false (a notebook's kernel must survive), is handled as it was before
    the run (Python's KeyboardInterrupt for SIGINT).

    While `deferred` is true (inside the training loop) the signal only sets `signame`, and the
    loop raises between steps, so the weights it saves are never half-updated.
    """

    def __init__(self, second_kills: bool = True) -> None:
        self.signame: str | None = None
        self.hurried = False  # a second signal came: end the run without saving or waiting
        self.deferred = False
        self.second_kills = second_kills
        self.previous: dict[int, Any] = {}

    def handle(self, signum: int, _frame: Any) -> None:
        second = self.signame is not None
        if second or not self.second_kills:  # a third signal kills (a notebook: as before)
            for sig in (signal.SIGINT, signal.SIGTERM):
                before = self.previous.get(sig)
                signal.signal(sig, signal.SIG_DFL if self.second_kills or before is None
                              else before)
        self.hurried = second
        self.signame = signal.Signals(signum).name
        received.append(self.signame)
        if second or not self.deferred:
            raise RunInterrupted(self.signame)

    def check(self) -> None:
        """Raise RunInterrupted if a signal arrived since the last check."""
        if self.signame is not None:
            raise RunInterrupted(self.signame)


@contextmanager
def interrupts_stop_run(*, second_kills: bool = True) -> Iterator[InterruptFlag]:
    """Route SIGINT/SIGTERM to an InterruptFlag while a run lasts (main thread only)."""
    flag = InterruptFlag(second_kills)
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            flag.previous[sig] = signal.signal(sig, flag.handle)
    except ValueError:  # not the main thread (some launchers): leave signals alone
        yield flag
        return
    try:
        yield flag
    finally:
        for sig, handler in flag.previous.items():
            signal.signal(sig, handler)
