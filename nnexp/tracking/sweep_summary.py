"""The parent run's summary of a sweep: table, plots, best child, failures, seed statistics
(configurations ranked by mean with bootstrap intervals, and whether the winner is real)."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from pathlib import Path
from typing import Any

from nnexp.tracking import plots, tags
from nnexp.tracking.sweep import parse_override
from nnexp.winner import rank_configurations, winner_test

SEED_KEY = "seed"
LOG_SCALE_KEYS = ("lr", "optimizer.lr", "optimizer.weight_decay")


def child_runs(client: Any, parent_id: str) -> list[Any]:
    """Every run whose mlflow.parentRunId is `parent_id`, oldest first."""
    parent = client.get_run(parent_id)
    return client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`{tags.MLFLOW_PARENT_RUN_ID}` = '{parent_id}'",
        order_by=["attributes.start_time ASC"],
        max_results=50000,
    )


def _row(run: Any, keys: list[str], objective: str) -> dict[str, Any]:
    swept = dict(parse_override(o) for o in run.data.tags.get(tags.OVERRIDES, "").split()
                 if "=" in o)
    row: dict[str, Any] = {"run_name": run.info.run_name, "run_id": run.info.run_id,
                           "status": run.info.status,
                           "diverged": run.data.tags.get(tags.DIVERGED) == "true",
                           "verdict": run.data.tags.get(tags.VERDICT, ""),
                           "error": run.data.tags.get(tags.ERROR, "")}
    for key in keys:
        row[key] = swept.get(key, "")
    for name, value in sorted(run.data.metrics.items()):
        if name.startswith(("train/loss", "val/", "test/")) and name != "train/loss_step":
            row[name] = value
    row.setdefault(objective, math.nan)
    return row


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


def seed_groups(rows: list[dict[str, Any]], keys: list[str], objective: str
                ) -> dict[str, dict[str, float]]:
    """The finished children's objective per configuration (its swept values but the seed, as
    `lr=0.1,model.hidden=[8]`), keyed by seed."""
    others = [k for k in keys if k != SEED_KEY]
    groups: dict[str, dict[str, float]] = {}
    for row in rows:
        value = row.get(objective, math.nan)
        if row["status"] == "FINISHED" and isinstance(value, float) and math.isfinite(value):
            name = ",".join(f"{k}={row[k]}" for k in others) or "defaults"
            groups.setdefault(name, {})[str(row.get(SEED_KEY, ""))] = value
    return groups


def seed_statistics(rows: list[dict[str, Any]], keys: list[str], objective: str,
                    direction: str = "minimize") -> list[dict[str, Any]]:
    """Configurations ranked by their mean objective across seeds, best first, with standard
    deviation and 95 % bootstrap interval of the mean (`nnexp.winner`)."""
    others = [k for k in keys if k != SEED_KEY]
    swept = {name: row for row in rows if row["status"] == "FINISHED"
             for name in [",".join(f"{k}={row[k]}" for k in others) or "defaults"]}
    return [{"rank": config.rank, **{k: swept[config.name][k] for k in others},
             "n_seeds": config.n, f"{objective} mean": config.mean,
             f"{objective} std": config.std, f"{objective} ci95 low": config.low,
             f"{objective} ci95 high": config.high}
            for config in rank_configurations(seed_groups(rows, keys, objective), direction)]


def write_summary(client: Any, parent_id: str, keys: list[str], objective: str,
                  direction: str) -> str:
    """Log the summary artifacts and tags on the parent; return its final status."""
    runs = child_runs(client, parent_id)
    range_tests = [run for run in runs if tags.LR_FIND in run.data.tags]  # not jobs of the sweep
    rows = [_row(run, keys, objective) for run in runs if tags.LR_FIND not in run.data.tags]
    parent_tags = client.get_run(parent_id).data.tags
    for tag in sorted(t for t in parent_tags if t.startswith(tags.SWEEP_REUSED_PREFIX)):
        row = _row(client.get_run(tag.rsplit(".", 1)[1]), keys, objective)
        row["run_name"] = f"{row['run_name']} (reused)"
        rows.append(row)
    metric_columns = sorted({k for r in rows for k in r if "/" in k})
    columns = ["run_name", *keys, "status", "diverged", "verdict", *metric_columns, "run_id"]
    failed = [r for r in rows if r["status"] != "FINISHED"]
    usable = [r for r in rows if r["status"] == "FINISHED" and math.isfinite(r[objective])]
    summary: dict[str, str] = {tags.SWEEP_N_CHILDREN: str(len(rows)),
                               tags.SWEEP_OBJECTIVE: objective, tags.SWEEP_DIRECTION: direction}
    if usable:
        pick = min if direction == "minimize" else max
        best = pick(usable, key=lambda r: r[objective])
        summary.update({tags.BEST_RUN_ID: best["run_id"], tags.BEST_RUN_NAME: best["run_name"],
                     tags.BEST_OBJECTIVE: repr(best[objective])})
        client.log_metric(parent_id, f"best/{objective}", best[objective])
    if SEED_KEY in keys:
        winner = winner_test(rank_configurations(seed_groups(rows, keys, objective), direction),
                             objective, direction)
        summary[tags.SWEEP_WINNER] = winner.verdict
        summary[tags.SWEEP_WINNER_EVIDENCE] = winner.evidence[:tags.MAX_VALUE_CHARS]
    job_errors = sorted(v for k, v in parent_tags.items()
                        if k.startswith(tags.SWEEP_JOB_ERROR_PREFIX))
    listed = [f"{r['run_name']} ({'diverged' if r['diverged'] else r['status']})" for r in failed]
    listed += job_errors
    summary[tags.SWEEP_N_FAILED] = str(len(listed))
    if listed:
        summary[tags.SWEEP_FAILED] = ", ".join(listed)[:tags.MAX_VALUE_CHARS]
    for key, value in summary.items():
        client.set_tag(parent_id, key, value)
    with tempfile.TemporaryDirectory(prefix="nnexp-sweep-") as tmp:
        folder = Path(tmp) / "summary"
        folder.mkdir()
        (folder / "children.csv").write_text(_csv(rows, columns))
        report = [f"# Sweep summary\n\nobjective: `{objective}` ({direction}); "
                  f"{len(rows)} children, {len(listed)} failed, diverged or raised\n",
                  _markdown(rows, columns)]
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
            stat_columns = ["rank", *(k for k in keys if k != SEED_KEY), "n_seeds"] + [
                f"{objective} {x}" for x in ("mean", "std", "ci95 low", "ci95 high")]
            (folder / "seed_statistics.csv").write_text(_csv(stats, stat_columns))
            report += ["\n## Across seeds, ranked by mean (± std, 95 % bootstrap interval)\n\n",
                       _markdown(stats, stat_columns),
                       f"\n## Is the winner real?\n\n{summary[tags.SWEEP_WINNER]}: "
                       f"{summary[tags.SWEEP_WINNER_EVIDENCE]}\n"]
        (folder / "children.md").write_text("".join(report))
        _objective_plots(rows, keys, objective, folder)
        client.log_artifacts(parent_id, str(folder), "summary")
    return "FAILED" if failed or job_errors else "FINISHED"


def _objective_plots(rows: list[dict[str, Any]], keys: list[str], objective: str,
                     folder: Path) -> None:
    finished = [r for r in rows if r["status"] == "FINISHED"]
    axes = [k for k in keys if k != SEED_KEY]
    for key in axes:
        if len({str(r[key]) for r in finished}) < 2:
            continue
        others = [k for k in axes if k != key]
        safe = key.replace("/", "_")
        plots.objective_vs_parameter(finished, key, objective, others,
                                     folder / f"{objective.replace('/', '_')}_vs_{safe}.png",
                                     log_x=key in LOG_SCALE_KEYS)
