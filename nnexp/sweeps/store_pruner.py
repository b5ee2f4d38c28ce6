"""Pruning through the tracking store: siblings meet in the store, no controller is needed.

A sweep's children are the runs whose `mlflow.parentRunId` is the sweep's parent, whatever
launched them (basic, joblib, submitit/SLURM, Ray, the Optuna sweeper). A child's objective at its
decision epochs is recorded as tags (`nnexp.prune.value.<epoch>`), and a child reads its siblings'
such tags with one `search_runs`: tags, because the store keeps only a thinned sample of long
metric series and a search returns no metric history. The median rule compares with finished
siblings only, so a child's values go with its final record (no write per epoch); asha compares
with running siblings too, so a child's rung values are journaled as they come (a few rungs). The
search is repeated at most every `refresh_seconds`, so pruning costs a few queries a run. A store
that cannot answer never stops a run: the check is skipped with one warning.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nnexp.record import tags
from nnexp.record.redact import redact
from nnexp.sweeps.pruning_rules import (
    Pruned,
    PruneSettings,
    asha_decision,
    is_decision_epoch,
    median_decision,
)

log = logging.getLogger(__name__)
REFRESH_SECONDS = 5.0


def rung_values(run_tags: Mapping[str, str]) -> dict[int, float]:
    """{epoch: objective} from a run's `nnexp.prune.value.<epoch>` tags."""
    prefix = tags.PRUNE_VALUE_PREFIX
    found = {}
    for key, text in run_tags.items():
        if key.startswith(prefix) and key[len(prefix):].isdigit():
            try:
                found[int(key[len(prefix):])] = float(text)
            except ValueError:
                continue  # not written by nnexp; a sibling's bad tag must not stop this run
    return found


class StorePruner:
    """`nnexp.pruning.Pruner` whose siblings' values come from the tracking store."""

    def __init__(self, settings: PruneSettings, client: Any, experiment_id: str,
                 parent_id: str, run_id: Callable[[], str | None],
                 publish: Callable[[dict[str, str]], None],
                 refresh_seconds: float = REFRESH_SECONDS, earlier: Sequence[float] = ()
                 ) -> None:
        """`earlier`: the objective at epochs 1, 2, ... a continued run trained before its
        checkpoint; the rules see the run's whole past, as if it had never stopped."""
        self.settings = settings
        self.client = client
        self.experiment_id = experiment_id
        self.parent_id = parent_id
        self.run_id = run_id
        self.publish = publish
        self.refresh_seconds = refresh_seconds
        self.own = [float(v) for v in earlier]  # the objective at every epoch so far
        self.values = {f"{tags.PRUNE_VALUE_PREFIX}{epoch}": repr(value)  # for the final record
                       for epoch, value in enumerate(self.own, start=1)
                       if is_decision_epoch(settings, epoch)}
        self._unpublished = dict(self.values) if settings.rule == "asha" else {}
        self.checks = 0
        self.queries = 0
        self.seconds = 0.0  # spent publishing and reading siblings
        self._siblings: list[dict[int, float]] = []
        self._fetched_at = -math.inf
        self._warned = False

    def should_stop(self, epoch: int, values: Mapping[str, float]) -> Pruned | None:
        value = float(values[self.settings.objective])
        self.own.append(value)
        if not is_decision_epoch(self.settings, epoch):
            return None
        started = time.perf_counter()
        tag = {f"{tags.PRUNE_VALUE_PREFIX}{epoch}": repr(value)}
        self.values.update(tag)
        try:
            if self.settings.rule == "asha":  # running siblings compete at the rungs
                self.publish({**self._unpublished, **tag})
                self._unpublished = {}
            siblings = self._sibling_values()
        except Exception as exc:  # noqa: BLE001 - the store's errors have no common type
            if not self._warned:
                log.warning(redact(f"warning: pruning skipped at epoch {epoch}: the store did "
                                   f"not answer ({type(exc).__name__}: {exc})"))
                self._warned = True
            return None
        finally:
            self.seconds += time.perf_counter() - started
        self.checks += 1
        if self.settings.rule == "median":
            return median_decision(self.settings, epoch, self.own, siblings)
        competing = [s[epoch] for s in siblings if epoch in s]
        return asha_decision(self.settings, epoch, value, competing)

    def outcome_tags(self) -> dict[str, str]:
        """For the run's final record: its values at the decision epochs (siblings of later
        runs read them) and what pruning cost it."""
        cost = f"{self.checks} checks, {self.queries} store queries, {self.seconds:.3f} s"
        return {**self.values, tags.PRUNE_COST: cost}

    def _sibling_values(self) -> list[dict[int, float]]:
        """Each sibling's published values: finished siblings only for the median rule (as
        Optuna counts completed trials only), every sibling for asha."""
        now = time.monotonic()
        if now - self._fetched_at < self.refresh_seconds:
            return self._siblings
        query = f"tags.`{tags.MLFLOW_PARENT_RUN_ID}` = '{self.parent_id}'"
        if self.settings.rule == "median":
            query += " and attributes.status = 'FINISHED'"
        runs = self.client.search_runs([self.experiment_id], filter_string=query,
                                       max_results=50000)
        self.queries += 1
        own = self.run_id()
        self._siblings = [rung_values(run.data.tags) for run in runs if run.info.run_id != own]
        self._fetched_at = time.monotonic()
        return self._siblings
