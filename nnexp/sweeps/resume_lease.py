"""A lease on a stopped run: of several `sweep.resume` started at once, one continues it.

MLflow has no compare-and-set, so a resumer reads the run's lease tag and backs off when another
holder's lease has not expired; else it writes its own (a token unique to this attempt and an
expiry), waits SETTLE_SECONDS and reads the tag again: the run is its to continue when its token
still stands. Two resumers that both found the run free both write; each reads again after the
other's write has landed, so only the last writer finds its own token.

The race window accepted: a resumer stalled for longer than SETTLE_SECONDS between its first read
and its write (its process paused, a store that slow to answer) can overwrite a lease whose
holder has already read its token back; both then continue the run, as they did before leases.
The expiry (LEASE_SECONDS) bounds how long a resumer that died before its continuation started
blocks the others; once the continuation exists, the stopped run carries `nnexp.continued_by`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from nnexp.record import tags

LEASE_SECONDS = 600.0
SETTLE_SECONDS = 1.0


@dataclass(frozen=True)
class Lease:
    """A lease on a stopped run: who holds it (`token`) and until when (unix seconds)."""

    token: str
    until: float

    def text(self) -> str:
        return f"{self.token} {self.until:.0f}"


def standing_lease(run_tags: dict[str, str], now: float) -> Lease | None:
    """The unexpired lease the run's tags hold, or None (none, expired or unreadable)."""
    token, _, until = run_tags.get(tags.RESUME_LEASE, "").partition(" ")
    try:
        lease = Lease(token, float(until))
    except ValueError:
        return None
    return lease if token and lease.until > now else None


def take_lease(client: Any, run_id: str) -> tuple[bool, Lease | None]:
    """Try to lease the stopped run `run_id` for this process: (True, ours) when it is ours to
    continue; (False, the other holder's lease, or None when it was continued meanwhile)."""
    from mlflow.exceptions import MlflowException

    run_tags = client.get_run(run_id).data.tags
    other = standing_lease(run_tags, time.time())
    if other is not None or tags.CONTINUED_BY in run_tags:
        return False, other
    ours = Lease(uuid.uuid4().hex, time.time() + LEASE_SECONDS)
    try:
        client.set_tag(run_id, tags.RESUME_LEASE, ours.text())
    except MlflowException:  # SQLite: a rival inserted the tag between our read and our write
        pass  # its token stands: the read below tells
    time.sleep(SETTLE_SECONDS)  # a rival that read the run free before our write writes by now
    run_tags = client.get_run(run_id).data.tags
    if tags.CONTINUED_BY in run_tags:
        return False, None
    now = standing_lease(run_tags, 0.0)
    return (True, ours) if now is not None and now.token == ours.token else (False, now)
