"""A sweep's parent run while no store answers at the sweep's start: a local identity and a
journal, as its children have; `python -m nnexp.runs sync` creates it in the store, links the
children to it and writes its summary."""

from __future__ import annotations

import os
import time

from nnexp.experiment.observer import FAILED, FINISHED, KILLED
from nnexp.record import tags
from nnexp.record.redact import redact
from nnexp.sweeps.naming import distinct_name
from nnexp.sweeps.parent import parent_run_tags
from nnexp.tracking.budget import DEFAULT_BUDGET
from nnexp.tracking.mlflow_observer import LOCAL_PARENT_ENV, local_run_id, sync_command
from nnexp.tracking.outbox import Outbox
from nnexp.tracking.store import outbox_root


class LocalSweepParent:
    """The journal of a sweep's parent run that is not in the store yet; `finish` journals its
    end (the summary is written by `runs sync`, from the children it uploads first)."""

    def __init__(self, uri: str, experiment: str, name: str, sweep_tags: dict[str, str],
                 command: list[str]) -> None:
        self.uri = uri
        self.run_id = local_run_id()
        run_tags = {**parent_run_tags(name, sweep_tags, command), tags.LOCAL_RUN_ID: self.run_id}
        self.name = run_tags[tags.MLFLOW_RUN_NAME] = distinct_name(name, self.run_id)
        self.outbox = Outbox.create(outbox_root(uri), self.run_id, {
            "uri": redact(uri), "experiment_id": None, "pid": os.getpid(),
            "pid_start": run_tags[tags.PID_START], "host": run_tags[tags.HOST],
            "machine": run_tags[tags.MACHINE], "budget": DEFAULT_BUDGET,
            "plan": {"total_steps": 0, "epochs": 0, "log_every_n_steps": 1},
            "local": {"experiment": experiment, "run_name": self.name, "tags": run_tags,
                      "start_time": int(time.time() * 1000)}})
        os.environ[LOCAL_PARENT_ENV] = self.run_id  # its children are recorded locally too
        self._finished = False

    def finish(self, *, job_raised: bool = False, interrupted: str | None = None) -> str:
        """Journal how the sweep ended (KILLED if interrupted, FAILED if a job raised, else
        FINISHED until the summary says otherwise); later calls do nothing."""
        if self._finished:
            return ""
        self._finished = True
        os.environ.pop(LOCAL_PARENT_ENV, None)
        status, reason = FINISHED, None
        if interrupted:
            status, reason = KILLED, f"the sweep was interrupted by {interrupted}"
        elif job_raised:
            status, reason = FAILED, "the sweep stopped early: a job raised"
        if reason:
            self.outbox.add_op({"op": "tags", "tags": {tags.SWEEP_ERROR: reason}})
        self.outbox.add_op({"op": "end", "status": status, "end_time": int(time.time() * 1000)})
        print(f"sweep: parent run {self.run_id} and its runs are kept locally in "
              f"{self.outbox.folder.parent}: `{sync_command(self.uri)}` uploads them and writes "
              "the sweep's summary", flush=True)
        return status
