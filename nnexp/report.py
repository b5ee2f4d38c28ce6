"""`python -m nnexp.report PARENT_RUN_ID [-o sweep.html]`: a sweep's report, one offline page.

Ranked children, seeds, what mattered, parallel coordinates, learning curves, gradient norms and
how to reproduce the best child, in one self-contained HTML file (no network request of any
kind). A sweep logs the same page as its parent's `summary/report.html` when it ends.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nnexp.cli import run_cli, sweep_arguments

PROG = "nnexp.report"


def report_main(argv: list[str]) -> int:
    """Write the report of the sweep; exit 0."""
    from nnexp.sweeps.report_data import open_sweep, read_sweep, save
    from nnexp.sweeps.report_html import build_html

    parser = sweep_arguments(PROG, __doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("sweep.html"),
                        help="where to write the page (default: sweep.html)")
    args = parser.parse_args(argv)
    client = open_sweep(args.tracking_uri, args.parent_run_id)
    report = read_sweep(client, args.parent_run_id)
    path = save(args.output, build_html(report))
    partial = " (partial: the sweep is still running)" if report.partial else ""
    print(f"report: {path.resolve()}{partial}")
    return 0


def main() -> None:
    """Entry point: one-line errors (exit 2) for unknown runs or an unreachable store."""
    run_cli(lambda: sys.exit(report_main(sys.argv[1:])), PROG)


if __name__ == "__main__":
    main()
