"""The shell every command runs in: a user mistake, a diverged or interrupted run exits with one
line and a code (the lines themselves: `nnexp.config.user_errors`), and a fast exit."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

from nnexp.config.user_errors import (
    EXIT_INTERRUPTED,
    EXIT_RUN_FAILED,
    EXIT_USER_ERROR,
    UserAbort,
    describe_user_error,
)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _debug_requested() -> bool:
    return "--debug" in sys.argv or os.environ.get("NNEXP_DEBUG") == "1"


@contextmanager
def errors_exit(prog: str, hint: Callable[[BaseException], str] | None = None) -> Iterator[None]:
    """Inside: a user mistake, a diverged or interrupted run exits with one line and a code;
    `hint` may add the command's own advice to a user mistake's line.

    Anything else (a bug) keeps its traceback. `--debug` shows tracebacks for everything.
    """
    from concurrent.futures import BrokenExecutor

    from nnexp.experiment.interrupts import RunInterrupted, received
    from nnexp.experiment.loop import Diverged
    from nnexp.tracking.store import describe_store_fault

    try:
        yield
    except UserAbort as exc:
        _fail(prog, str(exc), exc.code)
    except Diverged as exc:
        _fail(prog, f"{exc} (run ended FAILED)", EXIT_RUN_FAILED)
    except RunInterrupted as exc:
        received.append(exc.signame)  # also when a pool's worker raised it: the sweep ends KILLED
        saved = "" if getattr(exc, "hurried", False) else ", weights saved"
        _fail(prog, f"{exc}; run ended KILLED{saved}", EXIT_INTERRUPTED)
    except BrokenExecutor as exc:  # a pool worker (joblib) was killed from outside
        _fail(prog, f"a sweep worker process ended unexpectedly ({_first_line(exc)}); the "
                    "sweep stopped, its parent run says which jobs ran", EXIT_RUN_FAILED)
    except KeyboardInterrupt:
        _fail(prog, "interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:  # `nnexp.diff A B | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush at exit
        sys.exit(0)
    except Exception as exc:
        if _debug_requested():
            raise
        fault = describe_store_fault(exc) or _disk_full(exc)
        if fault is not None:
            _fail(prog, fault, EXIT_RUN_FAILED)
        message = describe_user_error(exc)
        if message is None:
            raise
        _fail(prog, message + (hint(exc) if hint else ""), EXIT_USER_ERROR)


def _disk_full(exc: BaseException) -> str | None:
    """One line for a file the run could not write because its disk takes no more."""
    from nnexp.tracking.errors import NO_ROOM_ERRNOS

    if not isinstance(exc, OSError) or exc.errno not in NO_ROOM_ERRNOS:
        return None
    where = f" writing {exc.filename}" if exc.filename else ""
    return (f"stopped: the disk takes no more ({exc.strerror}{where}); a run in progress ended "
            "FAILED with what it had")


def run_cli(entry: Callable[[], object], prog: str,
            hint: Callable[[BaseException], str] | None = None) -> None:
    """Run a Hydra entry point with `errors_exit`; `--debug` or HYDRA_FULL_ERROR=1 shows all."""
    saved = {k: os.environ.get(k) for k in ("HYDRA_FULL_ERROR", "NNEXP_DEBUG")}
    if "--debug" in sys.argv or saved["HYDRA_FULL_ERROR"] == "1":
        os.environ["NNEXP_DEBUG"] = "1"
    if "--debug" in sys.argv:
        sys.argv.remove("--debug")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let exceptions reach us instead of Hydra's printer
    try:
        with errors_exit(prog, hint):
            entry()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def exit_now(code: int = 0) -> NoReturn:
    """Exit after running atexit handlers and flushing, skipping interpreter teardown.

    Tearing down the ~2000 modules MLflow, pandas and matplotlib load takes over a second per
    process (measured 1.3 s), a cost every job of a sweep would pay for nothing. With worker
    processes alive (joblib's loky pool) the normal exit runs instead: only the interpreter's
    thread shutdown stops that pool, and joining it first would hang; its objects are frozen
    first, so that teardown's garbage collections pass over them (the workers do the same).
    """
    import atexit
    import gc
    import logging
    import multiprocessing

    if multiprocessing.active_children():
        gc.freeze()
        sys.exit(code)
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main_entry(entry: Callable[[], object], prog: str,
               hint: Callable[[BaseException], str] | None = None) -> NoReturn:
    """`run_cli`, then `exit_now` with its exit code."""
    try:
        run_cli(entry, prog, hint)
    except SystemExit as exc:
        code = exc.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        exit_now(code or 0)
    exit_now(0)


def sweep_arguments(prog: str, description: str) -> argparse.ArgumentParser:
    """The parent run id and --tracking-uri, as every command reading a sweep takes them."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("parent_run_id", metavar="PARENT_RUN_ID")
    parser.add_argument("--tracking-uri", help="MLflow store (default: MLFLOW_TRACKING_URI, "
                                               "then ./mlruns/mlflow.db, then the stores listed "
                                               "in mlruns/stores.json)")
    return parser


def _fail(prog: str, message: str, code: int) -> NoReturn:
    from nnexp.record.redact import redact

    print(f"{prog}: error: {redact(message)}", file=sys.stderr)
    sys.exit(code)
