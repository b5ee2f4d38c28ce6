"""`python -m nnexp.runs`: keep the store honest after crashes, kills and outages.

    python -m nnexp.runs sync                # upload what runs kept locally (store was down)
    python -m nnexp.runs cleanup             # sync, then end runs whose process is gone
    python -m nnexp.runs summarize PARENT    # rebuild a sweep's summary from its children

A RUNNING run, or a journal, is stale when its process is gone: checked at once by pid on this
machine (same host name and machine identity), and by its heartbeat (refreshed every ~30 s while
the process lives) for every other; a run or journal with a fresh heartbeat is never touched.
Liveness is never guessed from metrics. One journal that cannot be synced (damaged, its run
unknown, a path leading outside it) is said in one line and kept; the others go on, and the
command exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnexp.cli import EXIT_USER_ERROR
from nnexp.experiment.observer import FAILED, KILLED
from nnexp.record import tags
from nnexp.record.redact import redact
from nnexp.tracking.liveness import stale_reason
from nnexp.tracking.mlflow_observer import SYNC_COMMAND
from nnexp.tracking.store import StoreError, outbox_root, resolve_tracking_uri

PROG = "nnexp.runs"
STALE_MINUTES = 10.0  # heartbeats come every ~30 s: this many minutes of silence is a death


@dataclass
class Ended:
    run_id: str
    name: str
    reason: str
    status: str


def sync(uri: str, client: Any, stale_minutes: float = STALE_MINUTES) -> tuple[list[str], int]:
    """Replay every local outbox of `uri` whose writer is gone: one line per run, and how many
    could not be synced (a damaged journal, an unknown run, a refused path: each kept)."""
    from nnexp.tracking.outbox import journal_folders

    lines, failed = [], 0
    # a sweep's parent last: its summary is written from its children, synced before it
    for folder in sorted(journal_folders(outbox_root(uri)), key=_is_local_parent):
        said, ok = _sync_one(folder, uri, client, stale_minutes)
        lines += said
        failed += not ok
    return lines, failed


def _sync_one(folder: Path, uri: str, client: Any, stale_minutes: float) -> tuple[list[str], bool]:
    """Sync one journal folder unless its writer lives; (lines to print, whether it went)."""
    from nnexp.tracking.outbox import JournalError, Outbox
    from nnexp.tracking.sync import replay

    local_parent = _is_local_parent(folder)  # read now: a replay removes the journal
    try:
        outbox = Outbox(folder)
    except JournalError as exc:
        return [f"not synced: journal {folder.name}: {exc}; kept in {folder}"], False
    info = outbox.info
    if info.get("uri") not in (None, redact(uri)):
        return [], True  # kept for another store
    alive = journal_stale_reason(outbox, time.time(), stale_minutes * 60) is None
    if alive:
        return [f"left alone: run {outbox.run_id}: its writer on {info.get('host')} lives"], True
    with outbox.exclusive() as mine:
        if not mine:
            return [], True  # another sync is replaying it right now
        try:
            done = replay(outbox, client, unended_reason=(
                f"cleanup: process {info.get('pid')} on {info.get('host')} ended without "
                "ending its run (killed); its journal was replayed"))
        except Exception as exc:  # noqa: BLE001 - one run's trouble must not stop the others
            why = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
            return [redact(f"not synced: run {outbox.run_id}: {why}; kept in {folder}")], False
    ended = f", ended {done.ended}" if done.ended else ""
    if local_parent:
        ended += f", summary written, {summarize(client, done.run_id, keep_end=True)}"
    local = f" (recorded locally as {outbox.run_id})" if done.run_id != outbox.run_id else ""
    history = f", full history of {done.history_values} values" if done.history_values else ""
    lines = [f"synced run {done.run_id}{local}: {done.n_values} metric values{history}, "
             f"{done.n_ops} pending writes{ended}"]
    lines += [f"refused: run {done.run_id}: path {path!r} leads outside its journal's "
              f"files/; not uploaded, journal kept in {folder}" for path in done.refused]
    return lines, not done.refused


def journal_stale_reason(outbox: Any, now_s: float, stale_seconds: float) -> str | None:
    """Why a journal's writer is gone, or None while it may be alive: by pid on this machine,
    by the journal's heartbeat from anywhere else."""
    info = outbox.info
    return stale_reason({tags.PID: str(info.get("pid", "")), tags.HOST: info.get("host", ""),
                         tags.PID_START: str(info.get("pid_start", "")),
                         tags.MACHINE: str(info.get("machine", "")),
                         tags.HEARTBEAT: str(int(outbox.last_beat()))}, 0, now_s, stale_seconds)


def _is_local_parent(folder: Path) -> bool:
    """The journal of a sweep's parent run that no store answered at its start."""
    try:
        local = json.loads((folder / "run.json").read_text()).get("local") or {}
        return local.get("tags", {}).get(tags.SWEEP) == "parent"
    except (OSError, ValueError, AttributeError):
        return False  # a damaged journal: reported by its sync


def sync_waiting(given: str | None, stale_minutes: float = STALE_MINUTES
                 ) -> tuple[list[str], int]:
    """`sync` for the store given (--tracking-uri, MLFLOW_TRACKING_URI), else for every store a
    journal here waits for; the lines to print, and the exit code (1: a store did not answer,
    its runs still wait, with the command that uploads them; or a journal could not be synced)."""
    from nnexp.tracking.mlflow_observer import sync_command
    from nnexp.tracking.pending import usable, waiting_stores
    from nnexp.tracking.store import open_client

    if given or os.environ.get("MLFLOW_TRACKING_URI"):
        uri = resolve_tracking_uri(given)
        lines, failed = sync(uri, open_client(uri), stale_minutes)
        return lines, 1 if failed else 0
    lines, code = [], 0
    for uri, count in waiting_stores().items():
        if not usable(uri):
            lines.append(f"{count} run(s) wait for {uri}: give its password, "
                         f"`{SYNC_COMMAND} --tracking-uri URI`")
            code = 1
            continue
        try:
            store = resolve_tracking_uri(uri)
            said, failed = sync(store, open_client(store), stale_minutes)
            lines += said
            code = code or (1 if failed else 0)
        except StoreError as exc:
            lines.append(f"{count} run(s) still wait for {redact(uri)} ({exc}): "
                         f"retry with `{sync_command(uri)}`")
            code = 1
    return lines, code


def stale_runs(client: Any, stale_minutes: float, uri: str) -> list[tuple[Any, str]]:
    """RUNNING runs of every experiment whose process is gone, with the reason."""
    from mlflow.entities import ViewType

    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    if not experiments:
        return []
    running = client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'",
                                 max_results=50000)
    now = time.time()
    found = []
    for run in running:
        reason = stale_reason(run.data.tags, run.info.start_time or 0, now, stale_minutes * 60)
        if reason is not None and not _journal_alive(uri, run.info.run_id, now, stale_minutes):
            found.append((run, reason))
    return found


def _journal_alive(uri: str, run_id: str, now_s: float, stale_minutes: float) -> bool:
    """A run whose store heartbeat went quiet (its store was down) while its journal's beats on:
    its process lives."""
    from nnexp.tracking.outbox import JournalError, Outbox

    folder = outbox_root(uri) / run_id
    try:
        outbox = Outbox(folder)
    except (JournalError, OSError):
        return False
    return journal_stale_reason(outbox, now_s, stale_minutes * 60) is None


def cleanup(uri: str, stale_minutes: float, dry_run: bool
            ) -> tuple[list[str], list[Ended], int]:
    """Sync local outboxes, then end stale runs (a sweep parent after rebuilding its summary);
    the sync's lines, the runs ended, and how many journals could not be synced."""
    from nnexp.tracking.store import open_client

    client = open_client(uri)
    synced, failed = ([], 0) if dry_run else sync(uri, client, stale_minutes)
    ended = []
    stale = stale_runs(client, stale_minutes, uri)
    stale_ids = {run.info.run_id for run, _ in stale}
    for run, reason in stale:
        is_parent = run.data.tags.get(tags.SWEEP) == "parent"
        if is_parent and _children_still_running(client, run.info.run_id, stale_ids):
            continue  # a dead launcher's pool may still train: its summary would miss them
        status = KILLED if is_parent else FAILED
        ended.append(Ended(run.info.run_id, run.info.run_name, reason, status))
        if dry_run:
            continue
        client.set_tag(run.info.run_id, tags.STATUS_REASON, f"cleanup: {reason}")
        if is_parent:
            summarize(client, run.info.run_id, end_status=KILLED)
        else:
            client.set_terminated(run.info.run_id, status)
    return synced, ended, failed


def _children_still_running(client: Any, parent_id: str, stale_ids: set[str]) -> bool:
    """Whether a child of `parent_id` is RUNNING and alive (not among the stale runs)."""
    from nnexp.sweeps.parent import running_children

    return any(child.info.run_id not in stale_ids
               for child in running_children(client, parent_id))


def summarize(client: Any, parent_id: str, end_status: str | None = None,
              keep_end: bool = False) -> str:
    """Rebuild a sweep parent's summary from its children in the store; end it if asked.
    `keep_end`: a parent that ended FINISHED ends FAILED when the summary says a child failed
    (a sweep whose parent was recorded locally), at the end time it had."""
    from nnexp.sweeps.summary import write_summary

    parent = client.get_run(parent_id)
    run_tags = parent.data.tags
    if run_tags.get(tags.SWEEP) != "parent":
        raise StoreError(f"run {parent_id} is not a sweep's parent run")
    keys = [k for k in run_tags.get(tags.SWEEP_PARAMS, "").split(",") if k]
    objective = run_tags.get(tags.SWEEP_OBJECTIVE, "val/loss").split(" (")[0]
    direction = run_tags.get(tags.SWEEP_DIRECTION, "minimize")
    status = write_summary(client, parent_id, keys, objective, direction).status
    if keep_end and parent.info.status == "FINISHED" and status != "FINISHED":
        client.set_terminated(parent_id, status, end_time=client.get_run(parent_id).info.end_time)
        return status
    if keep_end:
        return client.get_run(parent_id).info.status
    if end_status is not None:
        client.set_terminated(parent_id, end_status)
        return end_status
    return status


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI, then ./mlruns")
    store.add_argument("--stale-minutes", type=float, default=STALE_MINUTES,
                       help="heartbeat silence after which a run or journal of another machine "
                       "is taken for dead (default: %(default)g)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("sync", parents=[store],
                        help="upload what runs kept locally while the store was down")
    clean = commands.add_parser("cleanup", parents=[store],
                                help="sync, then end runs whose process is gone")
    clean.add_argument("--dry-run", action="store_true", help="only list what would be ended")
    summary = commands.add_parser("summarize", parents=[store],
                                  help="rebuild a sweep's summary from its children")
    summary.add_argument("parent_run_id")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from nnexp.tracking.store import open_client

    args = _arguments(argv)
    failed = 0  # journals that could not be synced (each said in one line, each kept)
    try:
        if args.command == "sync":
            lines, code = sync_waiting(args.tracking_uri, args.stale_minutes)
            synced = sum(line.startswith("synced run") for line in lines)
            print("\n".join(lines + [f"{synced} run(s) synced"]))
            return code
        uri = resolve_tracking_uri(args.tracking_uri)
        client = open_client(uri)
        if args.command == "summarize":
            parent = _existing_run(client, args.parent_run_id)
            alive = parent.info.status == "RUNNING" and stale_reason(
                parent.data.tags, parent.info.start_time or 0, time.time(), 600) is None
            end = None if alive or parent.info.status != "RUNNING" else KILLED
            status = summarize(client, args.parent_run_id, end_status=end)
            print(f"summary of sweep {args.parent_run_id} rebuilt; parent "
                  f"{'still running' if alive else status}")
        else:
            synced, ended, failed = cleanup(uri, args.stale_minutes, args.dry_run)
            verb = "would end" if args.dry_run else "ended"
            for line in synced:
                print(line)
            for run in ended:
                print(f"{verb} {run.status}: {run.run_id} ({run.name}): {run.reason}")
            print(f"{len(ended)} stale run(s) {verb}")
    except StoreError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 1 if failed else 0


def _existing_run(client: Any, run_id: str) -> Any:
    """The run `run_id`; StoreError (one line) when the store has none of that id."""
    from nnexp.tracking.writer import is_permanent

    try:
        return client.get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - the store's errors have no common type
        if is_permanent(exc):
            raise StoreError(f"the store has no run {run_id!r}") from None
        raise


if __name__ == "__main__":
    sys.exit(main())
