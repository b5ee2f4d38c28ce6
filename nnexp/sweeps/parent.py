"""A sweep's parent run while its launcher lives: heartbeat, signals, and an honest end.

The parent carries the launcher's pid, host and a heartbeat refreshed every ~30 s, so a cleanup on
any machine can tell a live sweep from a dead one. SIGTERM or SIGINT to the launcher stops every
worker process below it (their runs end KILLED), writes the summary of the children so far and
ends the parent KILLED. A launcher killed outright (SIGKILL) leaves its parent to
`python -m nnexp.runs cleanup`, which rebuilds the summary from the children in the store.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from nnexp.experiment.observer import FAILED, KILLED
from nnexp.record import tags
from nnexp.record.redact import redact
from nnexp.sweeps.naming import distinct_name
from nnexp.tracking.liveness import (
    command_line,
    descendants,
    on_this_machine,
    process_alive,
    same_process_alive,
)
from nnexp.tracking.sent_files import start_keeping, stop_keeping

WORKER_GRACE_SECONDS = 20.0  # for workers to end their runs KILLED before they are killed


class SweepParent:
    """The open parent run of one sweep; `finish` writes its summary and ends it, once."""

    def __init__(self, client: Any, run_id: str, keys: list[str], objective: str,
                 direction: str, heartbeat_seconds: float = 30.0, *,
                 handle_signals: bool = True, console: bool = True,
                 full_best: bool = True) -> None:
        self.console = console  # print the ranked table when the sweep ends
        self.full_best = full_best  # the best child's light model becomes the full one
        self.client = client
        self.run_id = run_id
        self.keys = keys
        self.objective = objective
        self.direction = direction
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._finished = False
        self._beat = threading.Thread(target=self._heartbeat, args=(heartbeat_seconds,),
                                      name="nnexp-sweep-heartbeat", daemon=True)
        self._beat.start()
        start_keeping()  # the files this process's jobs send: the sweep's end reads them
        self._previous: dict[int, Any] = {}
        try:
            for sig in (signal.SIGTERM, signal.SIGINT) if handle_signals else ():
                self._previous[sig] = signal.signal(sig, self._on_signal)
        except ValueError:  # not the main thread: the launcher's owner handles signals
            pass

    def finish(self, *, job_raised: bool = False, interrupted: str | None = None) -> str:
        """Write the summary and end the parent: KILLED if interrupted, FAILED if a job raised
        or a child failed, else FINISHED. Returns the status; later calls do nothing."""
        with self._lock:
            if self._finished:
                return ""
            self._finished = True
        self._done.set()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        try:
            return self._end(job_raised, interrupted)
        finally:
            stop_keeping()

    def _end(self, job_raised: bool, interrupted: str | None) -> str:
        from nnexp.sweeps.summary import write_summary

        status, summary, runs = FAILED, None, None
        try:
            parent, runs = finished_children(self.client, self.run_id,
                                             KILLED if interrupted else FAILED)
            summary = write_summary(self.client, self.run_id, self.keys, self.objective,
                                    self.direction, parent=parent, runs=runs)
            status = summary.status
            reason = None
            if interrupted:
                status, reason = KILLED, f"the sweep was interrupted by {interrupted}"
            elif job_raised:
                status, reason = FAILED, "the sweep stopped early: a job raised"
            if reason:
                self.client.set_tag(self.run_id, tags.SWEEP_ERROR, reason)
        except Exception as exc:  # the summary must never leave the parent RUNNING
            print(redact(f"sweep: summary failed: {_first(exc)}"), file=sys.stderr)
            self.client.set_tag(self.run_id, tags.ERROR,
                                redact(f"summary failed: {exc}")[:tags.MAX_VALUE_CHARS])
        finally:
            self.client.set_terminated(self.run_id, status)
        by_id = {run.info.run_id: run for run in runs or []}
        if summary is not None and summary.best is not None and self.full_best:
            self._full_model(summary.best["run_id"], by_id.get(summary.best["run_id"]))
        if summary is not None:
            self._report(summary, status, *self._publish(runs))
        return status

    def _full_model(self, run_id: str, run: Any | None) -> None:
        """Log the best child's full model (children log a light one); a failure leaves it the
        light model, which loads as well. `run`: the child as the summary read it."""
        from nnexp.tracking.light_model import upgrade_to_full

        try:
            upgrade_to_full(self.client.tracking_uri, run_id, run)
        except Exception as exc:  # noqa: BLE001 - the sweep is recorded; say why and go on
            print(redact(f"sweep: could not log the best run's full model: {exc}"),
                  file=sys.stderr)

    def _publish(self, runs: list[Any] | None) -> tuple[str | None, str | None]:
        """The report page as `summary/report.html`, the ranked table and what mattered as the
        parent's description; a failure to write them changes nothing else recorded. `runs`:
        the children as the summary read them. The view's key and the parent's experiment."""
        from nnexp.sweeps.report_publish import publish

        try:
            return publish(self.client, self.run_id, runs)
        except Exception as exc:  # noqa: BLE001 - the summary is recorded; say why and go on
            print(redact(f"sweep: could not write the report: {exc}"), file=sys.stderr)
            return None, None

    def _report(self, summary: Any, status: str, view_key: str | None = None,
                experiment_id: str | None = None) -> None:
        """The ranked table on the console; a failure to print it changes nothing recorded."""
        if not self.console:
            return
        from nnexp.sweeps.console_table import print_report

        try:
            print_report(self.client, summary, status, view_key, experiment_id)
        except Exception as exc:  # noqa: BLE001 - the record is complete; say why and go on
            print(redact(f"sweep: could not print the summary: {exc}"), file=sys.stderr)

    def _heartbeat(self, every: float) -> None:
        while not self._done.wait(every):
            try:
                self.client.set_tag(self.run_id, tags.HEARTBEAT, str(int(time.time())))
            except Exception:  # noqa: BLE001,S110 - a missed beat is harmless; the next comes
                pass

    def _on_signal(self, signum: int, _frame: Any) -> None:
        """Stop the workers, summarise what ran, end the parent KILLED, exit 128 + signal."""
        name = signal.Signals(signum).name
        print(f"sweep: {name}: stopping the jobs and ending the sweep KILLED", file=sys.stderr,
              flush=True)
        try:
            stop_workers(self.client, self.run_id, signum)
        except Exception as exc:  # noqa: BLE001 - the store is locked or down: stop them anyway
            print(redact(f"sweep: cannot read the running jobs from the store ({_first(exc)}); "
                         "stopping every worker of this launcher"), file=sys.stderr, flush=True)
            stop_workers(None, self.run_id, signum)
        try:
            self.finish(interrupted=name)
        except Exception as exc:  # noqa: BLE001 - the parent waits for `runs cleanup`
            print(redact(f"sweep: cannot end the parent run in the store ({_first(exc)}); "
                         "`python -m nnexp.runs cleanup` ends it once the store answers"),
                  file=sys.stderr, flush=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signum)


def create_parent_run(client: Any, experiment_id: str, name: str, sweep_tags: dict[str, str],
                      command: list[str], parent_run_id: str | None = None) -> str:
    """Create a sweep's parent run, with the provenance tags its children carry (user, source,
    git commit, versions) and the launcher's liveness tags; its run id."""
    from nnexp.tracking.run_lookups import know_artifact_location

    run_tags = parent_run_tags(name, sweep_tags, command, parent_run_id)
    run = client.create_run(experiment_id, run_name=name, tags=run_tags)
    know_artifact_location(client.tracking_uri, run)  # its summary's uploads need not read it
    run_id = run.info.run_id
    # the name tag renames the run as update_run does, without update_run's read of the run
    client.set_tag(run_id, tags.MLFLOW_RUN_NAME, distinct_name(name, run_id))
    return run_id


def parent_run_tags(name: str, sweep_tags: dict[str, str], command: list[str],
                    parent_run_id: str | None = None) -> dict[str, str]:
    """A sweep parent's tags: provenance, the launcher's liveness, the sweep's own."""
    from nnexp.record.provenance import provenance_tags
    from nnexp.tracking.liveness import liveness_tags

    provenance, _ = provenance_tags(command)
    run_tags = {**{key: redact(value) for key, value in provenance.items()},
                tags.MLFLOW_RUN_NAME: name, tags.SWEEP: "parent", **liveness_tags(),
                tags.HEARTBEAT: str(int(time.time())), **sweep_tags}
    if parent_run_id:
        run_tags[tags.MLFLOW_PARENT_RUN_ID] = parent_run_id
    return run_tags


def _any_running(client: Any, parent_id: str) -> bool:
    """Whether a child still runs; True when the store cannot say (the processes then tell)."""
    try:
        return bool(running_children(client, parent_id))
    except Exception:  # noqa: BLE001 - locked or down mid-wait: keep waiting on the processes
        return True


def _first(exc: BaseException) -> str:
    """The store's trouble in one line: SQLite's lock named as such, never SQLAlchemy's dump."""
    text = str(exc)
    if "database is locked" in text:
        return "the SQLite store is locked by another process (database is locked)"
    lines = [line for line in text.strip().splitlines() if not line.startswith("(raised as")]
    return (lines or [type(exc).__name__])[0]


def stop_workers(client: Any | None, parent_id: str, signum: int,
                 grace_seconds: float = WORKER_GRACE_SECONDS) -> None:
    """Pass `signum` to the process of every running child on this host (its run ends KILLED,
    with its weights), wait for those runs to end, then kill what is left below this process
    (idle pool workers), except the pool's resource trackers (see `pool_trackers`). Without a
    `client` (the store does not answer) every worker gets `signum`."""
    if client is None:  # the store cannot say which workers run jobs: all of them
        pids = set(descendants(os.getpid())) - pool_trackers(descendants(os.getpid()))
    else:
        pids = {int(pid) for run in running_children(client, parent_id)
                if on_this_machine(run.data.tags)
                and (pid := run.data.tags.get(tags.PID, "")).isdigit()
                and int(pid) != os.getpid()}
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_seconds
    while (time.monotonic() < deadline and any(process_alive(p) for p in pids)
           and (client is None or _any_running(client, parent_id))):
        time.sleep(0.25)
    below = descendants(os.getpid())
    trackers = pool_trackers(below)
    left = [pid for pid in below if pid not in trackers]
    # stopped first, so none of them sees a sibling's death and reacts to it
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def quiet_pool_helpers(log: Path) -> None:
    """Start the process pool's resource trackers (joblib/loky's and multiprocessing's) writing
    to `log` instead of the terminal, before the pool starts: what they print (warnings about
    resources a killed worker held) says nothing to the user. They stay the pool's only trackers
    because `stop_workers` never signals them. Where joblib is not installed there is no pool."""
    try:
        from joblib.externals.loky.backend import resource_tracker as loky_tracker
    except ImportError:
        return
    import multiprocessing.resource_tracker as mp_tracker

    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    with open(log, "ab") as sink:
        terminal = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)  # the trackers inherit this standard error
            loky_tracker.ensure_running()
            mp_tracker.ensure_running()
        finally:
            os.dup2(terminal, 2)
            os.close(terminal)


def pool_trackers(pids: list[int]) -> set[int]:
    """Which of `pids` are resource trackers (joblib/loky's, multiprocessing's). They must live
    until this process ends: they ignore SIGINT and SIGTERM, end by themselves once every process
    holding their pipe has ended, and unlink the semaphores and memory-mapped folders the pool
    left. Killed, they leak those, and the pool's next message to one (a broken pool unregisters
    its semaphores) starts a new tracker on this process's terminal, which prints a KeyError
    traceback for every name it never registered."""
    found = set()
    for pid in pids:
        if "resource_tracker import main" in " ".join(command_line(pid)):
            found.add(pid)
    return found


def running_children(client: Any, parent_id: str) -> list[Any]:
    """The parent's child runs that are still RUNNING."""
    parent = client.get_run(parent_id)
    return client.search_runs(
        [parent.info.experiment_id],
        filter_string=(f"tags.`{tags.MLFLOW_PARENT_RUN_ID}` = '{parent_id}' "
                       "and attributes.status = 'RUNNING'"), max_results=50000)


def finished_children(client: Any, parent_id: str, status: str) -> tuple[Any, list[Any]]:
    """The parent run and its children (`summary.child_runs`) read once when the sweep ends,
    orphaned children ended first with `status` (then the children are read again)."""
    from nnexp.sweeps.summary import child_runs

    parent = client.get_run(parent_id)
    runs = child_runs(client, parent_id, parent.info.experiment_id)
    running = [run for run in runs if run.info.status == "RUNNING"]
    if running and end_orphaned_children(client, parent_id, status, running):
        runs = child_runs(client, parent_id, parent.info.experiment_id)
    return parent, runs


def end_orphaned_children(client: Any, parent_id: str, status: str,
                          running: list[Any] | None = None) -> bool:
    """Children whose process on this host is gone (a pool killed its workers) are ended with
    what their journal kept; they must not stay RUNNING under an ended parent. `running`: the
    RUNNING children as just read (else read here). Whether it ended any."""
    from nnexp.tracking.store import outbox_root
    from nnexp.tracking.sync import replay_if_kept

    ended = False
    for run in running if running is not None else running_children(client, parent_id):
        run_tags = run.data.tags
        pid = run_tags.get(tags.PID, "")
        if not on_this_machine(run_tags) or not pid.isdigit():
            continue  # another machine's: its heartbeat will tell (runs cleanup)
        if same_process_alive(int(pid), run_tags.get(tags.PID_START)):
            continue
        reason = f"its process {pid} ended with the sweep, without ending the run"
        folder = outbox_root(client.tracking_uri) / run.info.run_id
        if not replay_if_kept(folder, client, unended_reason=reason, unended_status=status):
            client.set_tag(run.info.run_id, tags.STATUS_REASON, reason)
            client.set_terminated(run.info.run_id, status)
        ended = True
    return ended
