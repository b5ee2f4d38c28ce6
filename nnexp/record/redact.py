"""Credentials in URIs (`http://user:pass@host`, `postgresql://user:pass@db/x`) are masked before
anything is recorded (params, tags, run names, artifacts) or printed.

A tracking URI may carry a password; a run's record is shared far more widely than the secret.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MASK = "***"
# scheme://userinfo@ : userinfo runs to the authority's last '@' (an unescaped '@' in a password
# still hides it all) and stops at '/', '?', '#' or white space, where the authority ends.
# Hydra shows overrides with ':' escaped (`http\://user\:pw@host`): the escapes are matched too.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*\\?://)(?P<userinfo>[^\s/?#]*)@")


def _mask(match: re.Match[str]) -> str:
    user, colon, _ = match["userinfo"].partition(":")
    # with a password the user name stays (it says which account); alone it is often a token
    return f"{match['scheme']}{user}:{MASK}@" if colon else f"{match['scheme']}{MASK}@"


def redact(text: str) -> str:
    """`text` with the password of every URI in it masked: `http://user:***@host`."""
    return _USERINFO.sub(_mask, text) if "@" in text else text


def redact_logging() -> None:
    """Mask credentials in every log record created from now on in this process.

    Hydra's launchers log each job's overrides (tracking.uri included) and reconfigure the
    handlers for every job, so the masking sits in the record factory, not in a handler.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it where it always does
            return record
        if redact(message) != message:
            record.msg, record.args = redact(message), None
        return record

    factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


SCANNED_BYTES = 16_000_000  # larger files (weights) are binary data, not scanned


@contextmanager
def redacted_copy(path: Path) -> Iterator[Path]:
    """`path` (a file or a folder) as it may be logged: itself when no text file in it holds a
    credential, else a temporary copy in which every credential is masked (Hydra's .hydra/
    files hold the command line, and with it any tracking URI given there)."""
    files = [path] if path.is_file() else [p for p in sorted(path.rglob("*")) if p.is_file()]
    changed = {}
    for file in files:
        text = _text_with_credentials(file)
        if text is not None and redact(text) != text:
            changed[file] = redact(text)
    if not changed:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="nnexp-redacted-") as tmp:
        copy = Path(tmp) / path.name
        if path.is_file():
            shutil.copy2(path, copy)
        else:
            shutil.copytree(path, copy)
        for file, text in changed.items():
            (copy / file.relative_to(path) if path.is_dir() else copy).write_text(text)
        yield copy


def _text_with_credentials(file: Path) -> str | None:
    """The file's text if it may hold a URI with credentials, else None (binary, or too large)."""
    if file.stat().st_size > SCANNED_BYTES:
        return None
    data = file.read_bytes()
    if b"://" not in data or b"@" not in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
