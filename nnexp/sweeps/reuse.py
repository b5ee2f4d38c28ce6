"""`sweep.skip_finished`: an earlier FINISHED run of the same config answers for a new one."""

from __future__ import annotations

from typing import Any

from nnexp.record import tags
from nnexp.tracking.store import open_client


def finished_run(uri: str, experiment: str, identity: str, tag: str = tags.CONFIG_HASH
                 ) -> Any | None:
    """The newest FINISHED run of `experiment` whose `tag` (the config hash) is `identity`."""
    runs = runs_of_config(open_client(uri), experiment, identity,
                          "attributes.status = 'FINISHED'", limit=1, tag=tag)
    return runs[0] if runs else None


def runs_of_config(client: Any, experiment: str, identity: str, status_filter: str,
                   limit: int, tag: str = tags.CONFIG_HASH) -> list[Any]:
    """Runs of `experiment` whose `tag` (the config hash) is `identity` and whose status matches
    `status_filter` (an MLflow filter clause), newest first."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return client.search_runs(
        [found.experiment_id],
        filter_string=f"tags.`{tag}` = '{identity}' and {status_filter}",
        order_by=["attributes.start_time DESC"], max_results=limit,
    )


def note_reuse(uri: str, parent_run_id: str, reused_run_id: str, job_name: str) -> None:
    """Tell the sweep's parent that `job_name` was answered by an earlier run."""
    open_client(uri).set_tag(parent_run_id, tags.SWEEP_REUSED_PREFIX + reused_run_id, job_name)
