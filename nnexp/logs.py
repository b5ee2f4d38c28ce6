"""What a run prints goes through Python logging, so Hydra's job logging writes it to the
console and to `<job folder>/<job name>.log`; conf/config.yaml keeps the console plain.

Messages are INFO (stdout) or WARNING (stderr). Where nobody configured logging (a script, a
notebook, `nnexp.reproduce`), nnexp's messages still print as plain lines, as `print` did.
"""

from __future__ import annotations

import logging
import sys

ROOT_LOGGER = "nnexp"


class BelowLevel(logging.Filter):
    """Passes records under `level`: the stdout handler leaves warnings to the stderr one."""

    def __init__(self, level: int | str = logging.WARNING) -> None:
        super().__init__()
        self.level = logging.getLevelName(level) if isinstance(level, str) else level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


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
        except Exception:
            self.handleError(record)


def _install() -> None:
    logger = logging.getLogger(ROOT_LOGGER)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not any(isinstance(h, PlainConsoleFallback) for h in logger.handlers):
        logger.addHandler(PlainConsoleFallback())


_install()
