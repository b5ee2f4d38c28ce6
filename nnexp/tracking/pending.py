"""Which stores have runs waiting in journals, so `python -m nnexp.runs sync` given no store
uploads every one: a run's run.json names the store it was kept for."""

from __future__ import annotations

import json
from pathlib import Path

from nnexp.config.paths import launch_dir
from nnexp.tracking.known_stores import remembered
from nnexp.tracking.outbox import INFO
from nnexp.tracking.store import DEFAULT_STORE_DIR, outbox_root

REDACTED = "***"  # what redaction leaves of a password: such a URI cannot be used as written


def waiting_stores(start_dir: Path | None = None) -> dict[str, int]:
    """{store URI as journaled: journals waiting for it}: those under this folder's
    mlruns/outbox/ and those of every SQLite store runs from this folder used."""
    roots = [Path(start_dir or launch_dir()).resolve() / DEFAULT_STORE_DIR / "outbox"]
    roots += [outbox_root(uri) for uri in remembered(start_dir) if uri.startswith("sqlite:///")]
    found: dict[str, int] = {}
    for root in dict.fromkeys(roots):
        for info in root.glob(f"*/{INFO}") if root.is_dir() else ():
            try:
                uri = json.loads(info.read_text()).get("uri")
            except (OSError, ValueError, AttributeError):
                continue  # a damaged journal: `sync --tracking-uri` reports it
            if isinstance(uri, str) and uri:
                found[uri] = found.get(uri, 0) + 1
    return found


def usable(uri: str) -> bool:
    """Whether a journaled URI can be used as written (a password was redacted away)."""
    return REDACTED not in uri
