"""`python -m nnexp.runs cleanup`: end runs that a killed process left RUNNING.

A process killed with SIGKILL cannot end its run. A RUNNING run is stale when nothing was logged
to it for `--idle-minutes` and its process is gone (checked by pid on this host; on another
host only the idle time can tell). Stale runs are marked FAILED with the reason as a tag.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from typing import Any

from nnexp.cli import EXIT_USER_ERROR
from nnexp.tracking import tags
from nnexp.tracking.liveness import process_alive
from nnexp.tracking.store import StoreError, resolve_tracking_uri


def last_activity_ms(client: Any, run: Any) -> int:
    """The newest timestamp of the run: its start or its latest metric point."""
    newest = run.info.start_time or 0
    for key in run.data.metrics:
        history = client.get_metric_history(run.info.run_id, key)
        if history:
            newest = max(newest, max(m.timestamp for m in history))
    return newest


def stale_reason(client: Any, run: Any, idle_minutes: float, now_ms: int) -> str | None:
    """Why a RUNNING run is stale, or None while it may still be alive."""
    idle = (now_ms - last_activity_ms(client, run)) / 60000
    if idle < idle_minutes:
        return None
    pid, host = run.data.tags.get(tags.PID), run.data.tags.get(tags.HOST)
    if pid and host == platform.node():
        if process_alive(int(pid)):
            return None
        return f"process {pid} on {host} is gone; idle {idle:.1f} min"
    return f"no update for {idle:.1f} min (process on {host or 'unknown host'} not checkable)"


def cleanup(uri: str, idle_minutes: float, dry_run: bool) -> list[tuple[str, str, str]]:
    """Mark stale RUNNING runs FAILED in every experiment; return (run id, name, reason)."""
    from mlflow.entities import ViewType

    from nnexp.tracking.store import open_client

    client = open_client(uri)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    if not experiments:
        return []
    running = client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'",
                                 max_results=50000)
    now_ms = int(time.time() * 1000)
    ended = []
    for run in running:
        reason = stale_reason(client, run, idle_minutes, now_ms)
        if reason is None:
            continue
        ended.append((run.info.run_id, run.info.run_name, reason))
        if not dry_run:
            client.set_tag(run.info.run_id, tags.STATUS_REASON, f"cleanup: {reason}")
            client.set_terminated(run.info.run_id, "FAILED")
    return ended


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nnexp.runs", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    clean = commands.add_parser("cleanup", help="mark stale RUNNING runs FAILED")
    clean.add_argument("--tracking-uri", help="default: tracking URI of ./mlruns")
    clean.add_argument("--idle-minutes", type=float, default=10.0,
                       help="minutes without any logged metric before a run may be stale")
    clean.add_argument("--dry-run", action="store_true", help="only list what would be ended")
    args = parser.parse_args(argv)
    try:
        uri = resolve_tracking_uri(args.tracking_uri)
    except StoreError as exc:
        print(f"nnexp.runs: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    ended = cleanup(uri, args.idle_minutes, args.dry_run)
    verb = "would mark" if args.dry_run else "marked"
    for run_id, name, reason in ended:
        print(f"{verb} FAILED: {run_id} ({name}): {reason}")
    print(f"{len(ended)} stale run(s) {verb} FAILED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
