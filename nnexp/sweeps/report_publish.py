"""A finished sweep told to MLflow's UI: the report page as the parent's `summary/report.html`,
the ranked table and what mattered as its description (`mlflow.note.content`), and a saved view
of the experiment page (MLflow's shared view state) listing its children sorted by the objective
with the swept keys and the objective as columns."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from nnexp.record import tags
from nnexp.sweeps.mattered import lines
from nnexp.sweeps.report_data import SweepReport, read_sweep, save
from nnexp.sweeps.report_html import build_html
from nnexp.tracking.browse import SHARED_VIEW_PREFIX, sweep_view_key

NOTE = "mlflow.note.content"
SUMMARY_MARK = "<!-- nnexp: sweep summary -->"  # what follows is rewritten at each report
NOTE_ROWS = 20


def view_state(report: SweepReport) -> dict[str, Any]:
    """The experiment page's state: the children of the parent, best first, the swept keys and
    the objective as columns (MLflow's names: params.`lr`, metrics.`val/loss`)."""
    columns = [f"params.`{k}`" for k in report.differing]
    columns += [f"metrics.`{report.objective}`"]
    columns += [f"metrics.`{k}`" for k in ("test/accuracy", "test/loss") if k != report.objective
                and any(k in r for r in report.rows)]
    return {"searchFilter": f"tags.`{tags.MLFLOW_PARENT_RUN_ID}` = '{report.parent_id}'",
            "orderByKey": f"metrics.`{report.objective}`",
            "orderByAsc": report.direction == "minimize", "startTime": "ALL",
            "lifecycleFilter": "Active", "selectedColumns": columns}


def description(report: SweepReport) -> str:
    """Markdown: the ranked table (its first NOTE_ROWS rows) and the what-mattered lines."""
    objective = report.objective
    header = ["#", *report.differing, objective, "status", "run"]
    out = [f"**{report.parent_name}**: {len(report.rows)} children ranked by `{objective}` "
           f"({report.direction}); the full report is the artifact `summary/report.html`.", "",
           "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rank = 0
    for row in report.rows[:NOTE_ROWS]:
        value = row.get(objective, math.nan)
        ok = row["status"] == "FINISHED" and math.isfinite(value)
        rank += ok
        cells = [str(rank) if ok else "-", *(str(row.get(k, "")) for k in report.differing),
                 f"{value:.4g}", row["status"], row["run_id"]]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if len(report.rows) > NOTE_ROWS:
        out.append(f"\n... and {len(report.rows) - NOTE_ROWS} more in summary/report.html")
    if report.winner:
        out += ["", f"winner: {report.winner}"]
    why = lines(report.importance, report.rows, objective, report.direction)
    out += ["", "```", *why, "```"]
    text = "\n".join(out)
    return text if len(text) <= tags.MAX_VALUE_CHARS else text[:tags.MAX_VALUE_CHARS - 3] + "..."


def _after_user_text(parent_tags: dict[str, str], summary: str) -> str:
    """The user's `tracking.description` (already on the parent) kept above the summary."""
    user = parent_tags.get(NOTE, "").split(SUMMARY_MARK)[0].rstrip()
    text = f"{user}\n\n{SUMMARY_MARK}\n{summary}" if user else f"{SUMMARY_MARK}\n{summary}"
    return text if len(text) <= tags.MAX_VALUE_CHARS else text[:tags.MAX_VALUE_CHARS - 3] + "..."


def publish(client: Any, parent_id: str, runs: list[Any] | None = None) -> tuple[str, str]:
    """Log the report, describe the parent, save the children's view; the view's key and the
    parent's experiment. `runs`: the parent's ended children as the summary read them (the
    parent is read here once, with the status it ended with)."""
    parent = client.get_run(parent_id)
    report = read_sweep(client, parent_id, parent=parent, runs=runs)
    with tempfile.TemporaryDirectory(prefix="nnexp-report-") as tmp:
        client.log_artifact(parent_id, str(save(Path(tmp) / "report.html", build_html(report))),
                            "summary")
    client.set_tag(parent_id, NOTE, _after_user_text(parent.data.tags, description(report)))
    experiment_id = parent.info.experiment_id
    key = sweep_view_key(parent_id)
    client.set_experiment_tag(experiment_id, SHARED_VIEW_PREFIX + key,
                              json.dumps(view_state(report)))
    return key, experiment_id
