"""The sweep report as one self-contained HTML page: styles and SVG charts inline, no script, no
image, font or stylesheet fetched, so it opens offline (a USB stick, an air-gapped machine).

Numbers in tables show 4 significant digits; each cell's `data-value` holds the store's value
exactly (`repr`), which the browser test compares with the store.
"""

from __future__ import annotations

import math
from collections import defaultdict
from html import escape
from typing import Any

import numpy as np

from nnexp.sweeps import report_svg as svg
from nnexp.sweeps.configurations import SEED_KEY
from nnexp.sweeps.importance import level_order
from nnexp.sweeps.mattered import lines, usable, value_of
from nnexp.sweeps.report_data import SweepReport, reproduce_commands

STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px}td,th{padding:2px 8px;border-bottom:1px solid #eee}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{text-align:left;background:#f5f5f5}
pre{background:#f7f7f7;padding:8px;overflow-x:auto}.partial{background:#fff3cd;padding:8px}
.charts{display:flex;flex-wrap:wrap;gap:12px}svg{font-size:10px}.axis{stroke:#444}
.tick{fill:#555}.curve,.pc{fill:none;stroke-width:1;stroke-opacity:.6}.mean{fill:none;stroke:#c0392b;
stroke-width:2}.dot{fill:#2c7fb8;fill-opacity:.7}.bar{fill:#2c7fb8}.ci{stroke:#000;stroke-width:2}
.scroll{max-height:600px;overflow:auto}"""


def _num(value: Any) -> str:
    if isinstance(value, float):
        shown = "-" if math.isnan(value) else f"{value:.4g}"
        return f'<td class="n" data-value="{value!r}">{shown}</td>'
    if isinstance(value, int):
        return f'<td class="n" data-value="{value}">{value}</td>'
    return f"<td>{escape(str(value))}</td>"


def _table(table_id: str, header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_num(c) for c in row) + "</tr>" for row in rows)
    return (f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _status(row: dict[str, Any]) -> str:
    from nnexp.sweeps.console_table import _status as console_status

    return console_status(row)


def children_section(report: SweepReport) -> str:
    """The ranked children: differing swept values, objective (ranked, best epoch, last), test
    metrics, status, verdict."""
    objective = report.objective
    tests = sorted({k for r in report.rows for k in r if k.startswith("test/")} - {objective})
    header = ["#", *report.differing, objective, "best epoch value", "at epoch",
              "last epoch value", *tests, "status", "verdict", "run"]
    body, rank = [], 0
    for row in report.rows:
        ok = row["status"] == "FINISHED" and math.isfinite(row.get(objective, math.nan))
        rank += ok
        body.append([rank if ok else "-", *(str(row.get(k, "")) for k in report.differing),
                     row.get(objective, math.nan), row.get("best_value", math.nan),
                     row.get("best_epoch", "-"), row.get("last_value", math.nan),
                     *(row.get(k, math.nan) for k in tests), _status(row),
                     row.get("verdict") or "-", row["run_id"]])
    return (f"<h2>Children, ranked by {escape(objective)}</h2><p>{len(report.rows)} children; "
            "only the swept keys whose value differs are shown.</p>"
            + _table("children", header, body))


def seeds_section(report: SweepReport) -> str:
    """Each configuration's mean and interval across seeds, and the winner test's sentence."""
    if not report.seed_stats:
        return ""
    objective = report.objective
    others = [k for k in report.differing if k != SEED_KEY]
    header = ["rank", *others, "seeds", f"{objective} mean", "std", "95% low", "95% high"]
    body = [[s["rank"], *(str(s[k]) for k in others), s["n_seeds"], s[f"{objective} mean"],
             s[f"{objective} std"], s[f"{objective} ci95 low"], s[f"{objective} ci95 high"]]
            for s in report.seed_stats]
    return ("<h2>Across seeds</h2><p>Grouped by every swept key but the seed.</p>"
            + _table("seeds", header, body)
            + f"<p><b>Is the winner real?</b> {escape(report.winner or '')}</p>")


def _effects(report: SweepReport) -> str:
    kept = usable(report.rows, report.objective)
    charts = []
    for key in [k for k in report.differing if k != SEED_KEY]:
        groups: dict[Any, list[float]] = defaultdict(list)
        for row in kept:
            groups[value_of(row, key)].append(row[report.objective])
        order = sorted(groups, key=level_order)
        points = [(i, v) for i, level in enumerate(order) for v in groups[level]]
        means = [float(np.mean(groups[level])) for level in order]
        charts.append(svg.effect_chart(key, report.objective, [svg.show(v) for v in order],
                                       points, means))
    return f'<div class="charts">{"".join(charts)}</div>'


def _interaction_tables(report: SweepReport) -> str:
    kept = usable(report.rows, report.objective)
    out = []
    for share in report.importance.interactions if report.importance else []:
        a, b = share.keys
        cells: dict[tuple[Any, Any], list[float]] = defaultdict(list)
        for row in kept:
            cells[(value_of(row, a), value_of(row, b))].append(row[report.objective])
        rows_a = sorted({k[0] for k in cells}, key=level_order)
        cols_b = sorted({k[1] for k in cells}, key=level_order)
        body = [[svg.show(x), *(float(np.mean(cells[(x, z)])) if (x, z) in cells else math.nan
                             for z in cols_b)] for x in rows_a]
        out.append(f"<p>mean {escape(report.objective)} by {escape(a)} (rows) and {escape(b)} "
                   f"(columns)</p>" + _table(f"pair-{a}-{b}", [a, *map(svg.show, cols_b)], body))
    return "".join(out)


def mattered_section(report: SweepReport) -> str:
    """Shares of the variance with intervals, main effects, interactions."""
    text = "\n".join(lines(report.importance, report.rows, report.objective, report.direction))
    out = f"<h2>What mattered</h2><pre id=\"why\">{escape(text)}</pre>"
    imp = report.importance
    if imp is not None:
        shares = [*imp.main, *imp.interactions, *([imp.noise] if imp.noise else [])]
        out += svg.shares_chart([(s.name, s.share, s.low, s.high) for s in shares])
    return out + "<h3>Main effects (each child a dot, the mean a line)</h3>" + _effects(report) \
        + _interaction_tables(report)


def parallel_section(report: SweepReport) -> str:
    """Every finished child across its swept values and the objective."""
    kept = usable(report.rows, report.objective)
    axes = [k for k in report.differing]
    if not kept or not axes:
        return ""
    columns: list[list[Any]] = [[value_of(r, k) for r in kept] for k in axes]
    columns.append([r[report.objective] for r in kept])
    return ("<h2>Parallel coordinates</h2><p>A line per finished child, coloured by "
            f"{escape(report.objective)} (dark: low).</p>"
            + svg.parallel_chart([*axes, report.objective], columns,
                                 [r[report.objective] for r in kept],
                                 [r["run_name"] for r in kept]))


def curves_section(report: SweepReport) -> str:
    """Learning curves of every child overlaid; gradient norms of the best and worst child."""
    ranked = [r for r in report.rows if r["run_id"] in report.curves]
    shade = {r["run_id"]: svg.colour(i / max(len(ranked) - 1, 1)) for i, r in enumerate(ranked)}
    charts = []
    for key in ("train/loss", "val/loss"):
        series = [(r["run_name"], *report.curves[r["run_id"]][key], shade[r["run_id"]])
                  for r in ranked if report.curves[r["run_id"]][key][0].size]
        charts.append(svg.lines_chart(key, series, "epoch", key))
    grads = []
    for label in ("best", "worst"):
        layers = report.grad_norms.get(label, {})
        palette = [svg.colour(i / max(len(layers) - 1, 1)) for i in range(len(layers))]
        series = [(layer, s, v, c) for (layer, (s, v)), c in zip(layers.items(), palette,
                                                                   strict=True)]
        if series:
            grads.append(svg.lines_chart(f"gradient norms, {label} child", series, "step",
                                         f"{label}: grad norm per layer"))
    return ("<h2>Learning curves</h2><p>Every child (dark: best ranked; min and max kept when "
            f'thinned).</p><div class="charts">{"".join(charts)}</div>'
            "<h3>Per-layer gradient norms of the best and the worst child</h3>"
            f'<div class="charts">{"".join(grads)}</div>')


def build_html(report: SweepReport) -> str:
    """The whole page."""
    title = f"{report.parent_name} (parent run {report.parent_id})"
    banner = (f'<p class="partial" id="partial">Partial report: the sweep is still running '
              f"({report.running} children running, parent {report.parent_status}).</p>"
              if report.partial else "")
    commands = "\n".join(reproduce_commands(report))
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{escape(title)}</h1>{banner}<p>objective <b>{escape(report.objective)}"
            f"</b> ({escape(report.direction)}); parent {escape(report.parent_status)}</p>"
            + children_section(report) + seeds_section(report) + mattered_section(report)
            + parallel_section(report) + curves_section(report)
            + f"<h2>Reproduce the best child</h2><pre id=\"commands\">{escape(commands)}</pre>"
            + "</body></html>")
