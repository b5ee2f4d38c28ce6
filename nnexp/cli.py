"""Command-line error reporting shared by nnexp's commands: one line for a user mistake."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

from nnexp.config.paths import group_options

EXIT_USER_ERROR = 2
EXIT_RUN_FAILED = 1
EXIT_INTERRUPTED = 130


class UserAbort(BaseException):
    """A user mistake (or a store fault) found where Hydra would swallow an Exception (its
    callbacks); `code` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_USER_ERROR) -> None:
        super().__init__(message)
        self.code = code


def abort_for(exc: Exception, context: str) -> UserAbort:
    """`exc` as a UserAbort: its one line and exit code, or `context` and the error for a bug."""
    from nnexp.tracking.store import describe_store_fault

    fault = describe_store_fault(exc)
    if fault is not None:
        return UserAbort(fault, EXIT_RUN_FAILED)
    message = describe_user_error(exc)
    if message is None:
        return UserAbort(f"{context}: {type(exc).__name__}: {exc}")
    return UserAbort(message)


def describe_user_error(exc: BaseException) -> str | None:
    """A one-line message for a mistake the user can fix, or None if `exc` is not one."""
    import yaml
    from hydra.errors import HydraException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    from nnexp.config import ConfigError
    from nnexp.data import DataError
    from nnexp.tracking.store import StoreError

    if isinstance(exc, (ConfigError, DataError, StoreError)):
        return str(exc).splitlines()[0]
    if isinstance(exc, OmegaConfBaseException):
        return _omegaconf_message(exc)
    if isinstance(exc, yaml.YAMLError):
        return _yaml_message(exc)
    if isinstance(exc, OverrideParseException):
        return f"cannot parse override: {_first_line(exc)}"
    if isinstance(exc, HydraException):
        return _hydra_message(exc)
    if isinstance(exc, OSError) and exc.filename and "yaml" in str(exc.filename):
        return f"{exc.filename}: {exc.strerror}"
    return None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _omegaconf_message(exc: BaseException) -> str:
    key = getattr(exc, "full_key", None)
    text = _first_line(exc)
    value = re.match(r"Value '(.*?)' (?:of type '\w+' )?could not be converted to (\w+)", text)
    if value:
        text = f"{value.group(1)!r} is not a valid {value.group(2).lower()}"
    elif "is not a ListConfig" in text:
        text = "expected a list, e.g. [64,32] (use [] for none)"
    elif "Missing mandatory value" in text:
        text = "missing required value (set it on the command line, e.g. key=value)"
    return f"{key}: {text}" if key else text


def _hydra_message(exc: BaseException) -> str:
    from nnexp.config import unknown_key_message

    text = str(exc)
    missing = re.search(r"Could not find '([^']+)/([^'/]+)'", text)
    if missing:
        group, option = missing.group(1), missing.group(2)
        allowed = ", ".join(_listed_options(text, group) or group_options(group)) or "(none)"
        return f"{group}: unknown option '{option}'; allowed: {allowed}{_searched(text)}"
    primary = re.search(r"Cannot find primary config '([^']+)'", text)
    if primary:
        return f"primary config '{primary.group(1)}' not found{_searched(text)}"
    folder = re.search(r"config directory '([^']+)'", text)
    if folder and "Primary config directory not found" in text:
        return f"config directory '{folder.group(1)}' not found or not readable"
    unknown = re.search(r"Could not override '([^']+)'", text)
    if unknown:
        key = getattr(exc.__cause__, "full_key", None) or unknown.group(1)
        value = re.search(r"use \+\S+?=(.*)$", text, re.MULTILINE)
        return unknown_key_message(key, value.group(1) if value and key == unknown.group(1)
                                   else None)
    cause = exc.__cause__
    if cause is not None:
        inner = describe_user_error(cause)
        if inner:
            return inner
    return _first_line(exc)


def _listed_options(text: str, group: str) -> list[str]:
    """The options Hydra lists under "Available options in '<group>':" (every search path)."""
    block = re.search(rf"Available options in '{re.escape(group)}':\n((?:\t.*\n?)+)", text)
    return [line.strip() for line in block.group(1).splitlines()] if block else []


def _searched(text: str) -> str:
    """A ` (searched: <folders>)` suffix: the config search path from Hydra's message, minus
    Hydra's built-in configs and the schema, so a user sees where their files were looked for."""
    paths = re.findall(r"provider=[^,\n]+, path=(\S+)", text)
    shown = [p.removeprefix("file://") for p in paths
             if p != "pkg://hydra.conf" and not p.startswith(("structured://",
                                                              "pkg://hydra_plugins."))]
    return f" (searched: {', '.join(shown)})" if shown else ""


def _yaml_message(exc: BaseException) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"{mark.name}:{mark.line + 1}" if mark else "a config file"
    return f"{where}: malformed YAML ({getattr(exc, 'problem', None) or _first_line(exc)})"


def _debug_requested() -> bool:
    return "--debug" in sys.argv or os.environ.get("NNEXP_DEBUG") == "1"


@contextmanager
def errors_exit(prog: str) -> Iterator[None]:
    """Inside: a user mistake, a diverged or interrupted run exits with one line and a code.

    Anything else (a bug) keeps its traceback. `--debug` shows tracebacks for everything.
    """
    from concurrent.futures import BrokenExecutor

    from nnexp.run.interrupts import RunInterrupted, received
    from nnexp.run.loop import Diverged
    from nnexp.tracking.store import describe_store_fault

    try:
        yield
    except UserAbort as exc:
        _fail(prog, str(exc), exc.code)
    except Diverged as exc:
        _fail(prog, f"{exc} (run ended FAILED)", EXIT_RUN_FAILED)
    except RunInterrupted as exc:
        received.append(exc.signame)  # also when a pool's worker raised it: the sweep ends KILLED
        _fail(prog, f"{exc}; run ended KILLED, weights saved", EXIT_INTERRUPTED)
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
        fault = describe_store_fault(exc)
        if fault is not None:
            _fail(prog, fault, EXIT_RUN_FAILED)
        message = describe_user_error(exc)
        if message is None:
            raise
        _fail(prog, message, EXIT_USER_ERROR)


def run_cli(entry: Callable[[], object], prog: str) -> None:
    """Run a Hydra entry point with `errors_exit`; `--debug` or HYDRA_FULL_ERROR=1 shows all."""
    saved = {k: os.environ.get(k) for k in ("HYDRA_FULL_ERROR", "NNEXP_DEBUG")}
    if "--debug" in sys.argv or saved["HYDRA_FULL_ERROR"] == "1":
        os.environ["NNEXP_DEBUG"] = "1"
    if "--debug" in sys.argv:
        sys.argv.remove("--debug")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let exceptions reach us instead of Hydra's printer
    try:
        with errors_exit(prog):
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
    thread shutdown stops that pool, and joining it first would hang.
    """
    import atexit
    import logging
    import multiprocessing

    if multiprocessing.active_children():
        sys.exit(code)
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main_entry(entry: Callable[[], object], prog: str) -> NoReturn:
    """`run_cli`, then `exit_now` with its exit code."""
    try:
        run_cli(entry, prog)
    except SystemExit as exc:
        code = exc.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        exit_now(code or 0)
    exit_now(0)


def _fail(prog: str, message: str, code: int) -> NoReturn:
    from nnexp.record.redact import redact

    print(f"{prog}: error: {redact(message)}", file=sys.stderr)
    sys.exit(code)
