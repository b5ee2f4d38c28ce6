"""The parent run's summary of a sweep: table, plots, best child, failures, seed statistics
(configurations ranked by mean with bootstrap intervals, and whether the winner is real)."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnexp.record import plots, tags
from nnexp.sweeps.configurations import (
    SEED_KEY,
    TRAINED,
    configurations,
    duplicate_jobs,
    trained_values,
)
from nnexp.sweeps.winner import RankedConfig, rank_configurations, winner_test

LOG_SCALE_KEYS = ("lr", "optimizer.lr", "optimizer.weight_decay")


@dataclass
class SweepSummary:
    """What the summary says, read once from the store: the parent's artifacts and tags and the
    console's table are written from these rows."""

    parent_id: str
    keys: list[str]  # the swept keys
    objective: str
    direction: str
    rows: list[dict[str, Any]]  # one per child (and per reused earlier run), oldest first
    job_errors: list[str] = field(default_factory=list)  # jobs that raised without a run
    best: dict[str, Any] | None = None
    status: str = "FINISHED"  # FAILED when a child failed or a job raised
    winner: str | None = None  # with seeds swept: is the best configuration's lead real?
    duplicates: list[str] = field(default_factory=list)  # one configuration and seed run twice

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Children that did not finish: failed, diverged or killed (not pruned)."""
        return [r for r in self.rows if r["status"] != "FINISHED" and not r.get("pruned")]

    @property
    def pruned(self) -> list[dict[str, Any]]:
        """Children the pruner stopped: results cut short by a decision, not failures."""
        return [r for r in self.rows if r["status"] != "FINISHED" and r.get("pruned")]

    @property
    def best_configuration(self) -> RankedConfig | None:
        """With `seed` swept, the configuration with the best mean objective across its seeds
        (what the `best:` line and the parent's best tags name), else None."""
        return best_configuration(self.rows, self.keys, self.objective, self.direction)

    @property
    def best_single(self) -> dict[str, Any] | None:
        """The finished child with the best objective of all (with seeds swept: the luckiest)."""
        return best_single(self.rows, self.objective, self.direction)

    @property
    def seed_statistics(self) -> list[dict[str, Any]] | None:
        """Mean and std of the objective per configuration when `seed` is swept, else None."""
        return seed_statistics(self.rows, self.keys, self.objective, self.direction) \
            if SEED_KEY in self.keys else None


def child_runs(client: Any, parent_id: str, experiment_id: str | None = None) -> list[Any]:
    """Every run whose mlflow.parentRunId is `parent_id`, oldest first, with its data (one
    search); `experiment_id`: the parent's, when the caller read the parent."""
    if experiment_id is None:
        experiment_id = client.get_run(parent_id).info.experiment_id
    return client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{tags.MLFLOW_PARENT_RUN_ID}` = '{parent_id}'",
        order_by=["attributes.start_time ASC"],
        max_results=50000,
    )


def read_rows(client: Any, parent_id: str, keys: list[str], objective: str, *,
              parent: Any | None = None, runs: list[Any] | None = None
              ) -> list[dict[str, Any]]:
    """The summary's row per job of the sweep `parent_id` (what its table and report show);
    `parent` and `runs` (its `child_runs`): as the caller read them, else read here."""
    parent = parent if parent is not None else client.get_run(parent_id)
    if runs is None:
        runs = child_runs(client, parent_id, parent.info.experiment_id)
    return _summary_rows(client, runs, parent.data.tags, keys, objective)


def _continuation(client: Any, run: Any) -> Any:
    """A stopped child continued by `sweep.resume` stands for its continuation (newest last)."""
    seen = {run.info.run_id}
    while (later := run.data.tags.get(tags.CONTINUED_BY)) and later not in seen:
        try:
            run = client.get_run(later)
        except Exception:  # noqa: BLE001 - a deleted continuation: the stopped run stays
            break
        seen.add(later)
    return run


def _row(run: Any, keys: list[str], objective: str) -> dict[str, Any]:
    swept = dict(tags.parse_override(o) for o in run.data.tags.get(tags.OVERRIDES, "").split()
                 if "=" in o)
    trained = trained_values(run.data.params, swept, keys)
    row: dict[str, Any] = {"run_name": run.info.run_name, "run_id": run.info.run_id,
                           "status": run.info.status,
                           "diverged": run.data.tags.get(tags.DIVERGED) == "true",
                           "diverged_where": _divergence(run.data.tags),
                           "pruned": run.data.tags.get(tags.PRUNED_EPOCH, ""),
                           "verdict": run.data.tags.get(tags.VERDICT, ""),
                           "kept_epoch": _kept_epoch(run.data.tags),
                           "error": run.data.tags.get(tags.ERROR, ""), TRAINED: trained}
    for key in keys:
        row[key] = swept.get(key, "")  # as typed; configurations compare the TRAINED values
    for name, value in sorted(run.data.metrics.items()):
        if name.startswith(("train/loss", "val/", "test/")) and name != "train/loss_step":
            row[name] = value
    row.setdefault(objective, math.nan)
    return row


def _kept_epoch(run_tags: dict[str, str]) -> str:
    """`8 of 12, stopped early`: the earlier epoch whose weights a run with patience kept (its
    final values, test/* and model are theirs), "" when it kept the last epoch's."""
    kept = run_tags.get(tags.KEPT_EPOCH)
    if not kept:
        return ""
    stopped = ", stopped early" if run_tags.get(tags.STOPPED_EARLY) == "true" else ""
    return f"{kept} of {run_tags.get(tags.EPOCHS_RUN, '?')}{stopped}"


def _divergence(run_tags: dict[str, str]) -> str:
    """`non-finite loss at epoch 4`, from a diverged run's tags ("" for the others)."""
    what = run_tags.get(tags.DIVERGED_PREFIX + "what", "")
    epoch = run_tags.get(tags.DIVERGED_PREFIX + "epoch")
    return f"{what} at epoch {epoch}" if what and epoch else what


def _markdown(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _usable(row: dict[str, Any], objective: str) -> bool:
    value = row.get(objective, math.nan)
    return row["status"] == "FINISHED" and isinstance(value, float) and math.isfinite(value)


def seed_groups(rows: list[dict[str, Any]], keys: list[str], objective: str
                ) -> dict[str, dict[str, float]]:
    """The finished children's objective per configuration (its swept values but the seed, as
    `lr=0.1,model.hidden=[8]`, told apart by the values the runs trained with), keyed by seed; a
    seed run twice counts once, as the mean of its runs."""
    return {config.name: config.objective_by_seed(objective)
            for config in configurations(rows, keys, objective)}


def best_single(rows: list[dict[str, Any]], objective: str, direction: str
                ) -> dict[str, Any] | None:
    """The finished child with the best finite objective, or None."""
    usable = [r for r in rows if _usable(r, objective)]
    pick = min if direction == "minimize" else max
    return pick(usable, key=lambda r: r[objective]) if usable else None


def best_configuration(rows: list[dict[str, Any]], keys: list[str], objective: str,
                       direction: str) -> RankedConfig | None:
    """With `seed` swept, the configuration with the best mean objective across seeds."""
    if SEED_KEY not in keys:
        return None
    ranked = rank_configurations(seed_groups(rows, keys, objective), direction)
    return ranked[0] if ranked else None


def configuration_runs(rows: list[dict[str, Any]], keys: list[str], objective: str,
                       name: str) -> list[dict[str, Any]]:
    """The finished children of configuration `name` with a finite objective."""
    for config in configurations(rows, keys, objective):
        if config.name == name:
            return [run for runs in config.runs_by_seed.values() for run in runs]
    return []


def seed_statistics(rows: list[dict[str, Any]], keys: list[str], objective: str,
                    direction: str = "minimize") -> list[dict[str, Any]]:
    """Configurations ranked by their mean objective across seeds, best first, with standard
    deviation and 95 % bootstrap interval of the mean (`nnexp.sweep.winner`); n_runs counts every
    finished run, n_seeds the seeds (more runs than seeds: duplicate jobs)."""
    others = [k for k in keys if k != SEED_KEY]
    found = {config.name: config for config in configurations(rows, keys, objective)}
    groups = {name: config.objective_by_seed(objective) for name, config in found.items()}
    return [{"rank": ranked.rank, **{k: found[ranked.name].values[k] for k in others},
             "n_seeds": ranked.n, "n_runs": found[ranked.name].n_runs,
             f"{objective} mean": ranked.mean, f"{objective} std": ranked.std,
             f"{objective} ci95 low": ranked.low, f"{objective} ci95 high": ranked.high}
            for ranked in rank_configurations(groups, direction)]


def write_summary(client: Any, parent_id: str, keys: list[str], objective: str,
                  direction: str, *, parent: Any | None = None, runs: list[Any] | None = None
                  ) -> SweepSummary:
    """Log the summary artifacts and tags on the parent; return the summary (its `status` is the
    parent's final status). `parent` and `runs` (its `child_runs`): as the caller read them
    after every child ended, else read here."""
    parent = parent if parent is not None else client.get_run(parent_id)
    if runs is None:
        runs = child_runs(client, parent_id, parent.info.experiment_id)
    range_tests = [run for run in runs if tags.LR_FIND in run.data.tags]  # not jobs of the sweep
    parent_tags = parent.data.tags
    rows = _summary_rows(client, runs, parent_tags, keys, objective)
    pruned = [r for r in rows if r["pruned"]]  # stopped by a decision: a result, not a failure
    failed = [r for r in rows if r["status"] != "FINISHED" and not r["pruned"]]
    summary: dict[str, str] = {tags.SWEEP_N_CHILDREN: str(len(rows)),
                               tags.SWEEP_OBJECTIVE: objective, tags.SWEEP_DIRECTION: direction}
    best, best_tags = _best(rows, keys, objective, direction)
    summary.update(best_tags)
    if SEED_KEY in keys:
        winner = winner_test(rank_configurations(seed_groups(rows, keys, objective), direction),
                             objective, direction)
        summary[tags.SWEEP_WINNER] = winner.verdict
        summary[tags.SWEEP_WINNER_EVIDENCE] = winner.evidence[:tags.MAX_VALUE_CHARS]
    job_errors = sorted(v for k, v in parent_tags.items()
                        if k.startswith(tags.SWEEP_JOB_ERROR_PREFIX))
    duplicates = duplicate_jobs(configurations(rows, keys, objective))
    if duplicates:
        summary[tags.SWEEP_DUPLICATES] = "; ".join(duplicates)[:tags.MAX_VALUE_CHARS]
    listed = [f"{r['run_name']} ({'diverged' if r['diverged'] else r['status']})" for r in failed]
    listed += job_errors
    summary[tags.SWEEP_N_FAILED] = str(len(listed))
    summary[tags.SWEEP_N_PRUNED] = str(len(pruned))
    if listed:
        summary[tags.SWEEP_FAILED] = ", ".join(listed)[:tags.MAX_VALUE_CHARS]
    _log_summary_record(client, parent_id, summary,
                        {f"best/{objective}": float(best_tags[tags.BEST_OBJECTIVE])}
                        if best is not None else {})
    header = (f"# Sweep summary\n\nobjective: `{objective}` ({direction}); {len(rows)} children, "
              f"{len(listed)} failed, diverged or raised, {len(pruned)} pruned\n")
    _log_summary_files(client, parent_id, rows, keys, objective, direction, header, summary,
                       job_errors, parent_tags, range_tests)
    winner = (f"{summary[tags.SWEEP_WINNER]}: {summary[tags.SWEEP_WINNER_EVIDENCE]}"
              if tags.SWEEP_WINNER in summary else None)
    return SweepSummary(parent_id, keys, objective, direction, rows, job_errors, best,
                        "FAILED" if failed or job_errors else "FINISHED", winner, duplicates)


def _log_summary_record(client: Any, parent_id: str, summary: dict[str, str],
                        metrics: dict[str, float]) -> None:
    """The summary's tags and the best objective as one log_batch (a request to a server)."""
    import time

    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    client.log_batch(parent_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                     tags=[RunTag(k, v) for k, v in summary.items()])


def _best(rows: list[dict[str, Any]], keys: list[str], objective: str, direction: str
          ) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The best child and the parent's best tags. With `seed` swept the best is the
    configuration with the best mean across seeds (`nnexp.best_config`, its mean as
    `nnexp.best_objective`, its best seed's run as `nnexp.best_run_id`), and the best single run
    of all, maybe a lucky seed of another configuration, is `nnexp.best_single_run_id`."""
    single = best_single(rows, objective, direction)
    if single is None:
        return None, {}
    config = best_configuration(rows, keys, objective, direction)
    if config is None:
        return single, {tags.BEST_RUN_ID: single["run_id"], tags.BEST_RUN_NAME: single["run_name"],
                        tags.BEST_OBJECTIVE: repr(single[objective])}
    best = best_single(configuration_runs(rows, keys, objective, config.name), objective,
                       direction)
    assert best is not None  # the configuration has at least one usable run
    return best, {tags.BEST_CONFIG: config.name, tags.BEST_CONFIG_N_SEEDS: str(config.n),
                  tags.BEST_OBJECTIVE: repr(config.mean), tags.BEST_RUN_ID: best["run_id"],
                  tags.BEST_RUN_NAME: best["run_name"], tags.BEST_SINGLE_RUN_ID: single["run_id"],
                  tags.BEST_SINGLE_RUN_NAME: single["run_name"],
                  tags.BEST_SINGLE_OBJECTIVE: repr(single[objective])}


def _summary_rows(client: Any, runs: list[Any], parent_tags: dict[str, str], keys: list[str],
                  objective: str) -> list[dict[str, Any]]:
    """A row per job: its latest continuation's values, then the runs reused for jobs."""
    rows = []
    for run in runs:
        if tags.LR_FIND in run.data.tags:
            continue
        latest = _continuation(client, run)
        rows.append(_row(latest, keys, objective))
        if latest is not run:
            rows[-1]["run_name"] = f"{run.info.run_name} (continued)"
    for tag in sorted(t for t in parent_tags if t.startswith(tags.SWEEP_REUSED_PREFIX)):
        reused = client.get_run(tag.rsplit(".", 1)[1])
        row = _row(reused, keys, objective)
        for key in keys:  # made another way (a plain run, a reproduction): its trained values
            row[key] = row[key] or reused.data.params.get(key, "")
        row["run_name"] = f"{parent_tags[tag] or row['run_name']} (reused)"  # the job it answered
        rows.append(row)
    return rows


def _log_summary_files(client: Any, parent_id: str, rows: list[dict[str, Any]], keys: list[str],
                       objective: str, direction: str, header: str, summary: dict[str, str],
                       job_errors: list[str], parent_tags: dict[str, str],
                       range_tests: list[Any]) -> None:
    """summary/children.csv, children.md, seed statistics and objective plots on the parent."""
    metric_columns = sorted({k for r in rows for k in r if "/" in k})
    columns = ["run_name", *keys, "status", "diverged", "pruned", "kept_epoch", "verdict",
               *metric_columns, "run_id"]
    with tempfile.TemporaryDirectory(prefix="nnexp-sweep-") as tmp:
        folder = Path(tmp) / "summary"
        folder.mkdir()
        (folder / "children.csv").write_text(_csv(rows, columns))
        report = [header, _markdown(rows, columns)]
        if job_errors:
            report += ["\n## Jobs that raised (no finished run)\n\n",
                       *(f"- {line}\n" for line in job_errors)]
        skipped = sorted(v for k, v in parent_tags.items()
                         if k.startswith(tags.SWEEP_SKIPPED_PREFIX))
        if skipped or range_tests:
            report += ["\n## Learning-rate limit (sweep.skip_lr_above): jobs skipped, no run\n\n",
                       *(f"- {line}\n" for line in skipped),
                       *(f"- lr range test run {run.info.run_id}: diverged at lr "
                         f"{run.data.tags.get(tags.LR_FIND_DIVERGENCE, '?')}, suggested lr "
                         f"{run.data.tags.get(tags.LR_FIND_SUGGESTED, '?')}\n"
                         for run in range_tests)]
        if SEED_KEY in keys:
            stats = seed_statistics(rows, keys, objective, direction)
            stat_columns = ["rank", *(k for k in keys if k != SEED_KEY), "n_seeds", "n_runs"] + [
                f"{objective} {x}" for x in ("mean", "std", "ci95 low", "ci95 high")]
            (folder / "seed_statistics.csv").write_text(_csv(stats, stat_columns))
            report += ["\n## Across seeds, ranked by mean (± std, 95 % bootstrap interval)\n\n",
                       _markdown(stats, stat_columns),
                       f"\n## Is the winner real?\n\n{summary[tags.SWEEP_WINNER]}: "
                       f"{summary[tags.SWEEP_WINNER_EVIDENCE]}\n"]
        duplicates = duplicate_jobs(configurations(rows, keys, objective))
        if duplicates:
            report += ["\n## Duplicate jobs: one configuration run twice\n\nThese jobs trained "
                       "the same values (equal numbers written differently, such as `0.1` and "
                       "`1e-1`): each configuration and seed counts once in the statistics.\n\n",
                       *(f"- {line}\n" for line in duplicates)]
        (folder / "children.md").write_text("".join(report))
        _objective_plots(rows, keys, objective, folder)
        client.log_artifacts(parent_id, str(folder), "summary")


def _objective_plots(rows: list[dict[str, Any]], keys: list[str], objective: str,
                     folder: Path) -> None:
    axes = [k for k in keys if k != SEED_KEY]
    for key in axes:
        if len({str(r[key]) for r in rows}) < 2:
            continue
        others = [k for k in axes if k != key]
        safe = key.replace("/", "_")
        plots.objective_vs_parameter(rows, key, objective, others,
                                     folder / f"{objective.replace('/', '_')}_vs_{safe}.png",
                                     log_x=key in LOG_SCALE_KEYS)
