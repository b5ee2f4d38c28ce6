"""Is the process behind a RUNNING run still alive? By pid on this host, by heartbeat elsewhere.

Runs and sweep parents carry their process's pid, its start time (a reused pid is not the same
process), the host, and a heartbeat tag refreshed every ~30 s while the process lives. Liveness is
never guessed from metrics: a quiet run is not a dead one.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from pathlib import Path

from nnexp.record import tags


def process_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (an ended one not yet reaped does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """An ended process its parent has not reaped still answers kill(pid, 0)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def process_start_time(pid: int | None = None) -> str:
    """A process's start time in clock ticks since boot (Linux /proc); "" where unknown."""
    try:
        stat = Path(f"/proc/{pid or os.getpid()}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def same_process_alive(pid: int, started: str | None) -> bool:
    """The process that recorded (`pid`, `started`) still runs on this host."""
    if not process_alive(pid):
        return False
    return not started or process_start_time(pid) in ("", started)


def stale_reason(run_tags: Mapping[str, str], start_time_ms: int, now_s: float,
                 stale_seconds: float) -> str | None:
    """Why a RUNNING run's process is gone, or None while it may be alive."""
    pid, host = run_tags.get(tags.PID), run_tags.get(tags.HOST)
    if pid and pid.isdigit() and host == platform.node():
        if same_process_alive(int(pid), run_tags.get(tags.PID_START)):
            return None
        return f"process {pid} on {host} is gone"
    beat = run_tags.get(tags.HEARTBEAT)
    last = float(beat) if beat and beat.isdigit() else start_time_ms / 1000
    silent = now_s - last
    if silent < stale_seconds:
        return None
    what = "heartbeat" if beat else "heartbeat recorded (started)"
    return f"no {what} for {silent / 60:.1f} min from {host or 'an unknown host'}"


def descendants(pid: int) -> list[int]:
    """Every process below `pid` on this host (children first), read from Linux's /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, frontier = [], [pid]
    while frontier:
        children = [c for p in frontier for c in parents.get(p, [])]
        found += children
        frontier = children
    return found
