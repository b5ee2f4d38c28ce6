"""Is the process behind a RUNNING run (or a journal) still alive? By pid on this machine, by
heartbeat anywhere else.

Runs, sweep parents and journals carry their process's pid, its start time (a reused pid is not
the same process), the host name, a machine identity and a heartbeat refreshed every ~30 s while
the process lives. A pid says something only on the machine that wrote it: a host name alone is
not enough (two machines, or two containers, may share one), so "process gone" is concluded only
when the machine identity is this machine's too. Everywhere else a fresh heartbeat means alive,
whatever host wrote it. Liveness is never guessed from metrics: a quiet run is not a dead one.
Processes are looked at through psutil, which works where /proc does not exist (macOS).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import uuid
from collections.abc import Mapping
from pathlib import Path

import psutil

from nnexp.config.paths import user_cache_dir
from nnexp.record import tags

_MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
_BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"


def process_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (an ended one not yet reaped does
    not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def process_start_time(pid: int | None = None) -> str:
    """A process's start time (unix seconds, two decimals, as psutil reads it); "" where
    unknown."""
    try:
        return f"{psutil.Process(pid or os.getpid()).create_time():.2f}"
    except (psutil.Error, OSError):
        return ""


def same_process_alive(pid: int, started: str | None) -> bool:
    """The process that recorded (`pid`, `started`) still runs on this machine. A start time in
    an older format (clock ticks, no decimal point) cannot be compared: the pid alone decides."""
    if not process_alive(pid):
        return False
    if not started or "." not in started:
        return True
    return process_start_time(pid) in ("", started)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` on this machine (children before grandchildren)."""
    try:
        below = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    depth: dict[int, int] = {pid: 0}
    found = []
    for process in below:
        try:
            depth[process.pid] = depth.get(process.ppid(), 0) + 1
        except psutil.NoSuchProcess:
            continue  # it ended while we looked
        found.append(process.pid)
    return sorted(found, key=lambda p: depth[p])


def command_line(pid: int) -> list[str]:
    """The process's command line; [] once it is gone or when it cannot be read."""
    try:
        return psutil.Process(pid).cmdline()
    except (psutil.Error, OSError):
        return []


@functools.cache
def machine_id() -> str:
    """This machine's identity as it boots now: a digest of the OS's machine id (else a random
    id kept in nnexp's cache) and the boot id, so neither is written out as it is (systemd asks
    that the machine id stay private) and a pid is never looked up after a reboot."""
    raw = _first_readable(_MACHINE_ID_FILES) or _cached_machine_id()
    boot = _first_readable((_BOOT_ID_FILE,))
    return hashlib.sha256(f"nnexp:{raw}:{boot}".encode()).hexdigest()[:24]


def _first_readable(paths: tuple[str, ...]) -> str:
    for path in paths:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text:
            return text
    return ""


def _cached_machine_id() -> str:
    """A random id made once per user cache (macOS, containers without a machine id)."""
    path = user_cache_dir() / "machine-id"
    try:
        return path.read_text().strip() or _new_machine_id(path)
    except OSError:
        return _new_machine_id(path)


def _new_machine_id(path: Path) -> str:
    made = uuid.uuid4().hex
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(made)
        os.replace(temporary, path)
        return path.read_text().strip() or made  # another process may have won the race
    except OSError:
        return made


def on_this_machine(run_tags: Mapping[str, str]) -> bool:
    """Whether the process that wrote these tags ran on this machine (its pid means something
    here): the same host name and the same machine identity."""
    return (run_tags.get(tags.HOST) == platform.node()
            and run_tags.get(tags.MACHINE) == machine_id())


def liveness_tags() -> dict[str, str]:
    """The tags (and journal fields) that let any machine tell whether this process lives."""
    return {tags.PID: str(os.getpid()), tags.PID_START: process_start_time(),
            tags.HOST: platform.node(), tags.MACHINE: machine_id()}


def stale_reason(run_tags: Mapping[str, str], start_time_ms: int, now_s: float,
                 stale_seconds: float) -> str | None:
    """Why a RUNNING run's process is gone, or None while it may be alive."""
    pid, host = run_tags.get(tags.PID, ""), run_tags.get(tags.HOST)
    if pid.isdigit() and on_this_machine(run_tags):
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
