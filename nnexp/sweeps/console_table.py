"""The end of a sweep on the console: its children ranked by the objective, the best one, mean ± std
across seeds, what failed or diverged, and where the parent run is and how to open it.

Written from the same rows as the parent's summary artifacts (`sweep_summary.SweepSummary`).
"""

from __future__ import annotations

import math
from typing import Any

from nnexp.experiment.console import number
from nnexp.experiment.logs import plain_logger
from nnexp.record.redact import redact
from nnexp.sweeps.summary import SweepSummary, configuration_runs

ACCURACY = "test/accuracy"  # shown beside the objective when the runs log it
MAX_CELL = 40


def _ranked(summary: SweepSummary) -> list[dict[str, Any]]:
    """Finished children best first (by the objective, in the sweep's direction), then finished
    ones without a finite objective, then those that did not finish."""
    objective, sign = summary.objective, 1.0 if summary.direction == "minimize" else -1.0
    usable = [r for r in summary.rows
              if r["status"] == "FINISHED" and math.isfinite(r.get(objective, math.nan))]
    usable.sort(key=lambda r: sign * r[objective])
    rest = [r for r in summary.rows if r["status"] == "FINISHED" and r not in usable]
    return usable + rest + summary.pruned + summary.failed


def _status(row: dict[str, Any]) -> str:
    if row["diverged"]:
        return "DIVERGED"
    if row.get("pruned") and row["status"] != "FINISHED":
        return f"PRUNED at epoch {row['pruned']}"
    kept = f" (kept epoch {row['kept_epoch']})" if row.get("kept_epoch") else ""
    return row["status"] + (" (reused)" if row["run_name"].endswith(" (reused)") else "") + kept


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else number(value)
    text = str(value)
    try:  # a sampled value (Optuna's 0.06411607492638233) shown to 4 significant digits
        if len(text) > 8 and math.isfinite(float(text)):
            return f"{float(text):.4g}"
    except ValueError:
        pass
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 3] + "..."


def _is_number(text: str) -> bool:
    try:
        float(text.split(" ± ")[0])
    except ValueError:
        return text == "-"
    return True


def _table(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Aligned columns; numbers on the right."""
    columns = list(zip(header, *rows, strict=True))
    widths = [max(len(x) for x in column) for column in columns]
    right = [bool(rows) and all(_is_number(x) for x in column[1:]) for column in columns]
    return [indent + "  ".join(cell.rjust(w) if r else cell.ljust(w)
                               for cell, w, r in zip(line, widths, right, strict=True)).rstrip()
            for line in (header, *rows)]


def _name(row: dict[str, Any], keys: list[str]) -> str:
    return ",".join(f"{k}={row[k]}" for k in keys if str(row.get(k, ""))) or row["run_name"]


def _best_lines(summary: SweepSummary) -> list[str]:
    """`best: lr=0.1  val/loss 0.1264  run ...`; with seeds swept, the best configuration by its
    mean across seeds, and the best single run (perhaps a lucky seed) on a line of its own."""
    objective, keys = summary.objective, summary.keys
    single, config = summary.best_single, summary.best_configuration
    if single is None:
        return []
    one = f"{_name(single, keys)}  {objective} {number(single[objective])}  run {single['run_id']}"
    if config is None:
        return [f"best: {one}"]
    sign = 1.0 if summary.direction == "minimize" else -1.0
    runs = sorted(configuration_runs(summary.rows, keys, objective, config.name),
                  key=lambda r: sign * r[objective])  # its best seed first
    seeds = f"{config.n} seed{'s' if config.n != 1 else ''}"
    return [f"best: {config.name} (mean {objective} {number(config.mean)} over {seeds})  "
            f"runs {', '.join(r['run_id'] for r in runs)}", f"best single run: {one}"]


def report_lines(summary: SweepSummary, how_to_open: str, store: str, parent_status: str
                 ) -> list[str]:
    """The lines the console shows when a sweep ends (`how_to_open`: `open: ...`)."""
    objective, keys = summary.objective, summary.keys
    order = "lowest" if summary.direction == "minimize" else "highest"
    ranked = _ranked(summary)
    extra = [ACCURACY] if ACCURACY != objective and any(ACCURACY in r for r in ranked) else []
    verdicts = any(r.get("verdict") for r in ranked)
    header = ["#", *keys, objective, *extra, "status", *(["verdict"] if verdicts else []), "run"]
    body = []
    rank = 0
    for row in ranked:
        finite = row["status"] == "FINISHED" and math.isfinite(row.get(objective, math.nan))
        rank += finite
        body.append([str(rank) if finite else "-", *(_cell(row.get(k, "")) for k in keys),
                     _cell(row.get(objective, math.nan)),
                     *(_cell(row.get(k, math.nan)) for k in extra), _status(row),
                     *([row.get("verdict") or "-"] if verdicts else []), row["run_id"]])
    lines = [f"sweep {summary.parent_id}: {len(summary.rows)} runs ranked by {objective} "
             f"({order} first)", *_table(header, body)]
    lines += _best_lines(summary)
    stats = summary.seed_statistics
    if stats:
        others = [k for k in keys if k != "seed"]
        lines.append(f"across seeds ({objective}, mean ± std, 95% bootstrap interval):")
        lines += _table([*others, "seeds", objective, "interval"], [
            [*(_cell(s[k]) for k in others), str(s["n_seeds"]),
             f"{number(s[f'{objective} mean'])} ± {number(s[f'{objective} std'])}",
             f"[{number(s[f'{objective} ci95 low'])}, {number(s[f'{objective} ci95 high'])}]"]
            for s in stats])
    if summary.winner:
        lines.append(f"winner: {summary.winner}")
    if summary.duplicates:
        lines.append(f"duplicate jobs (counted once): {'; '.join(summary.duplicates)}")
    failed = [f"{_name(r, keys)} ({_status(r).lower()}"
              + (f": {r['diverged_where']})" if r.get("diverged_where") else ")")
              for r in summary.failed]
    failed += summary.job_errors
    if summary.pruned:
        lines.append(f"pruned: {len(summary.pruned)} (stopped early by sweep.prune, not failures)")
    if failed:
        lines.append(f"failed or diverged: {len(failed)} of "
                     f"{len(summary.rows) + len(summary.job_errors)}: {'; '.join(failed)}")
    lines.append(f"parent run {summary.parent_id} {parent_status}, recorded in {store}")
    lines.append(how_to_open)
    return [redact(line) for line in lines]


def print_report(client: Any, summary: SweepSummary, parent_status: str,
                 view_key: str | None = None, experiment_id: str | None = None) -> None:
    """Log the report (plain lines on stdout, whatever logging the launcher was left with);
    `view_key`: the experiment-page view of the children the sweep saved; `experiment_id`:
    the parent's (else read)."""
    from nnexp.tracking.browse import how_to_open
    from nnexp.tracking.store import describe_store

    uri = client.tracking_uri
    if experiment_id is None:
        experiment_id = client.get_run(summary.parent_id).info.experiment_id
    log = plain_logger("nnexp.sweep")
    for line in report_lines(summary, how_to_open(uri, experiment_id, summary.parent_id, view_key),
                             describe_store(uri), parent_status):
        log.info(line)
