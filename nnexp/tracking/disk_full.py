"""A run whose store or journal ran out of disk: the store gets the run's end if it can, and the
console one line saying what was kept and where.

A full disk is not transient like a lock: the writer stops trying at the first such error and
the journal keeps the rest; training goes on (the record is what suffers, not the run).
"""

from __future__ import annotations

import logging
from typing import Any

from nnexp.record import tags
from nnexp.record.redact import redact
from nnexp.tracking.errors import StoreFull, no_room

FAILED = "FAILED"
log = logging.getLogger(__name__)


def said_disk_full(writer: Any, outbox: Any, complete: bool, sync: str) -> bool:
    """At a run's end: the one line for a store or journal whose disk filled (the run ended
    FAILED in a store that can still take that); True when the store's disk filled."""
    why = getattr(writer, "no_room", None)  # a journal-only writer sends nothing
    if why is None:
        if outbox.lost is not None:
            log.warning(_journal_full_line(outbox.run_id, outbox.lost, complete,
                                           str(outbox.folder)))
        return False
    ended = end_failed(writer.client, writer.run_id, why)
    log.warning(_store_full_line(writer.run_id, why, ended, str(outbox.folder), outbox.lost,
                                 sync))
    return True


def store_full(uri: str, what: str, exc: BaseException) -> StoreFull:
    """The one-line error for a store whose disk cannot take the run's creation."""
    return StoreFull(f"tracking store {redact(uri)}: cannot {what}: its disk takes no more "
                     f"({no_room(exc)}); free space, then run again")


def end_failed(client: Any, run_id: str, why: str) -> bool:
    """End the run FAILED in the store with the reason, if the store can still take that much
    (a few bytes, where a batch of metrics did not fit); True if it did."""
    reason = (f"the tracking store's disk took no more ({why}); the rest of the record waits "
              "in the run's journal for `python -m nnexp.runs sync`")
    try:
        client.set_tag(run_id, tags.STATUS_REASON, reason)
        client.set_terminated(run_id, FAILED)
    except Exception:  # noqa: BLE001 - the store's errors have no common type
        return False
    return True


def _store_full_line(run_id: str, why: str, ended: bool, folder: str, lost: str | None,
                    sync: str) -> str:
    """What happened to a run whose store's disk filled: one line."""
    where = ("the run is FAILED in the store (nnexp.status_reason says why)" if ended else
             "the run stays RUNNING in the store until it can be written")
    kept = (f"the journal in {folder} keeps the rest: free space, then `{sync}`" if lost is None
            else f"its journal stopped too ({lost}): the record ends where both stopped")
    return redact(f"warning: the tracking store's disk took no more of run {run_id} ({why}); "
                  f"training went on; {where}; {kept}")


def _journal_full_line(run_id: str, lost: str, complete: bool, folder: str) -> str:
    """What happened to a run whose journal's disk filled: one line."""
    if complete:
        return redact(f"note: run {run_id}'s journal stopped ({lost}); the store took the whole "
                      "record, nothing is lost")
    return redact(f"warning: run {run_id}'s journal stopped ({lost}) and the store did not take "
                  f"everything: the record is incomplete; what the journal kept is in {folder}")
