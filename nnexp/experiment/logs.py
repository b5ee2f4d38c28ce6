"""What a run prints goes through Python logging, so Hydra's job logging writes it to the
console and to `<job folder>/<job name>.log`; conf/config.yaml keeps the console plain.

Messages are INFO (stdout) or WARNING (stderr). Where nobody configured logging (a script, a
notebook, `nnexp.reproduce`), nnexp's messages still print as plain lines, as `print` did.
"""

from __future__ import annotations

import logging
import os
import sys

ROOT_LOGGER = "nnexp"


class BelowLevel(logging.Filter):
    """Passes records under `level`: the stdout handler leaves warnings to the stderr one."""

    def __init__(self, level: int | str = logging.WARNING) -> None:
        super().__init__()
        self.level = logging.getLevelName(level) if isinstance(level, str) else level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


class ConsoleHandler(logging.StreamHandler):
    """A stream handler that a closed pipe (`nnexp.train | head -2`) silences for good, instead
    of printing a logging error for every later line; the run itself goes on."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            _silence(self.stream)
            self.setStream(open(os.devnull, "w"))  # noqa: SIM115 - replaces the closed stream
            return
        super().handleError(record)


def _silence(stream: object) -> None:
    """Point a closed standard stream at /dev/null, so interpreter exit does not complain."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is stream:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, getattr(sys, f"__{name}__").fileno())


class PlainConsoleFallback(logging.Handler):
    """Prints a record as a bare line (INFO to stdout, WARNING and up to stderr) only while the
    root logger has no handler; once Hydra or the user configures logging it stays silent, so
    nothing prints twice."""

    def emit(self, record: logging.LogRecord) -> None:
        if logging.getLogger().handlers:
            return
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except BrokenPipeError:
            _silence(stream)
        except Exception:
            self.handleError(record)


class StdoutLines(logging.Handler):
    """Bare lines to whatever `sys.stdout` is when a record comes (a closed pipe silences it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            _silence(sys.stdout)
        except Exception:
            self.handleError(record)


def plain_logger(name: str) -> logging.Logger:
    """A logger whose INFO lines print bare on stdout by themselves, not through the root
    logger: in a sweep's launching process that is Hydra's (every line labelled `[HYDRA]`), or
    the last job's, which would write into that job's train.log."""
    logger = logging.getLogger(name)
    if not any(isinstance(h, StdoutLines) for h in logger.handlers):
        logger.addHandler(StdoutLines())
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def _install() -> None:
    logger = logging.getLogger(ROOT_LOGGER)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not any(isinstance(h, PlainConsoleFallback) for h in logger.handlers):
        logger.addHandler(PlainConsoleFallback())


_install()
