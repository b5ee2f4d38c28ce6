"""The stores runs started from a folder were recorded in, so that `reproduce` and `diff` find a
run whose id came from a tracking server without being told where it lives.

`mlruns/stores.json` in the folder a command starts in lists, newest first, every tracking URI
other than that folder's own SQLite store that a run or a sweep started there used. Passwords
are never written: an `http(s)://` entry keeps no user either (credentials then come from
MLFLOW_TRACKING_USERNAME/PASSWORD, as they should), a database URI keeps its user name only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from nnexp.config.paths import launch_dir
from nnexp.tracking.store import DEFAULT_STORE_DIR, default_tracking_uri

REGISTRY = "stores.json"
MAX_STORES = 20


def registry_path(start_dir: Path | None = None) -> Path:
    """`<launch folder>/mlruns/stores.json`."""
    return Path(start_dir or launch_dir()).resolve() / DEFAULT_STORE_DIR / REGISTRY


def without_password(uri: str) -> str:
    """`uri` as it may be written down: no password; no user name either for http(s)."""
    parts = urlsplit(uri)
    if parts.password is None and (parts.username is None or parts.scheme not in
                                   ("http", "https")):
        return uri
    host = parts.netloc.rpartition("@")[2]
    keep_user = parts.scheme not in ("http", "https") and parts.username
    netloc = f"{parts.username}@{host}" if keep_user else host
    return urlunsplit(parts._replace(netloc=netloc))


def remembered(start_dir: Path | None = None) -> list[str]:
    """The stores runs from this folder used, newest first (empty when none are known)."""
    try:
        stores = json.loads(registry_path(start_dir).read_text())
    except (OSError, ValueError):
        return []
    return [s for s in stores if isinstance(s, str)] if isinstance(stores, list) else []


def remember(uri: str, start_dir: Path | None = None) -> None:
    """Put `uri` first in this folder's list, unless it is the folder's own default store.

    A list that cannot be written costs only a hint later, never the run.
    """
    if uri == default_tracking_uri(start_dir):
        return
    entry = without_password(uri)
    path = registry_path(start_dir)
    try:
        if remembered(start_dir)[:1] == [entry]:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        import fcntl

        with open(path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # jobs of a sweep may start together
            stores = [entry, *(s for s in remembered(start_dir) if s != entry)][:MAX_STORES]
            temporary = path.with_name(f".{REGISTRY}.{os.getpid()}")
            temporary.write_text(json.dumps(stores, indent=1) + "\n")
            os.replace(temporary, path)
    except OSError:
        return
