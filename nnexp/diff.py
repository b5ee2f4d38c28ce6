"""`python -m nnexp.diff RUN_A RUN_B`: what differs between two runs: config, results, provenance.

    python -m nnexp.diff RUN_A RUN_B            # side by side, for a terminal
    python -m nnexp.diff RUN_A RUN_B --json     # the same as one JSON object, for scripts
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nnexp.cli import run_cli
from nnexp.config import BOOKKEEPING_SECTIONS
from nnexp.record.provenance import provenance_differences
from nnexp.tracking.records import RunRecord, flat_config, load_run, open_run_store
from nnexp.tracking.relocation import follow_moved_store

PROG = "nnexp.diff"


def _side_by_side(a: dict[str, Any], b: dict[str, Any], only_different: bool
                  ) -> dict[str, list[Any]]:
    keys = sorted(set(a) | set(b))
    return {k: [a.get(k), b.get(k)] for k in keys if not only_different or a.get(k) != b.get(k)}


def _changes_numbers(key: str) -> bool:
    return key.split(".", 1)[0] not in BOOKKEEPING_SECTIONS


def run_diff(client: Any, a: RunRecord, b: RunRecord) -> dict[str, Any]:
    """Config keys that differ (`settings`: those that cannot change the numbers, such as
    tracking.uri), final metrics of both runs, provenance tags that differ."""
    (config_a, flag_a), (config_b, flag_b) = flat_config(client, a), flat_config(client, b)
    for record, flag in ((a, flag_a), (b, flag_b)):
        if flag:  # the params are what the run trained with: config.yaml was edited since
            print(f"warning: run {record.run_id}: {flag}; the params are shown", file=sys.stderr)
    config = _side_by_side(config_a, config_b, True)
    return {
        "runs": [{"run_id": r.run_id, "name": r.name, "status": r.status,
                  "experiment": r.experiment} for r in (a, b)],
        "config": {k: v for k, v in config.items() if _changes_numbers(k)},
        "settings": {k: v for k, v in config.items() if not _changes_numbers(k)},
        "metrics": _side_by_side(a.metrics, b.metrics, False),
        "provenance": {key: [x, y] for key, x, y in provenance_differences(a.tags, b.tags)},
    }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _table(title: str, rows: dict[str, list[Any]], empty: str) -> list[str]:
    if not rows:
        return [f"{title}: {empty}"]
    width = max(len(k) for k in rows)
    cells = {k: [_cell(v) for v in pair] for k, pair in rows.items()}
    left = max(len(c[0]) for c in cells.values())
    lines = [f"{title}:"]
    for key, (x, y) in cells.items():
        mark = "  " if x == y else "* "
        lines.append(f"  {mark}{key:<{width}}  {x:<{left}}  {y}")
    return lines


def format_text(diff: dict[str, Any]) -> str:
    """The diff as aligned plain text; `*` marks final metrics that differ."""
    a, b = diff["runs"]
    lines = [f"A: {a['run_id']}  {a['name']}  [{a['status']}]",
             f"B: {b['run_id']}  {b['name']}  [{b['status']}]", ""]
    lines += _table("config (A  B)", diff["config"], "identical")
    if diff["settings"]:
        lines.append(f"  (also differ, without changing the numbers: "
                     f"{', '.join(diff['settings'])})")
    lines += [""] + _table("final metrics (A  B)", diff["metrics"], "none logged")
    lines += [""] + _table("provenance (A  B)", diff["provenance"], "identical")
    return "\n".join(lines)


def diff_main(argv: list[str]) -> int:
    """Parse the command line, read both runs, print the diff; exit 0."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    parser.add_argument("--tracking-uri", help="MLflow store (default: MLFLOW_TRACKING_URI, "
                                               "then ./mlruns/mlflow.db, then the "
                                               "stores listed in mlruns/stores.json)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    uri, client = open_run_store(args.tracking_uri, args.run_a)
    a, b = load_run(client, args.run_a), load_run(client, args.run_b)
    for experiment_id in dict.fromkeys((a.experiment_id, b.experiment_id)):
        note = follow_moved_store(uri, client, experiment_id)
        if note:
            print(note, file=sys.stderr)
    diff = run_diff(client, a, b)
    print(json.dumps(diff, indent=2) if args.json else format_text(diff))
    return 0


def main() -> None:
    """Entry point: one-line errors (exit 2) for unknown runs or an unreachable store."""
    run_cli(lambda: sys.exit(diff_main(sys.argv[1:])), PROG)


if __name__ == "__main__":
    main()
