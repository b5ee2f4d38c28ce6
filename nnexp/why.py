"""`python -m nnexp.why PARENT_RUN_ID`: what mattered in a sweep, on the console.

A line per swept key: its share of the objective's variance, the 95 % bootstrap interval of that
share, and a plain sentence where the data support one; then interactions and the seed noise.
Seeded: the same sweep gives the same text.
"""

from __future__ import annotations

import sys

from nnexp.cli import run_cli, sweep_arguments

PROG = "nnexp.why"


def why_main(argv: list[str]) -> int:
    """Print the "what mattered" lines of the sweep; exit 0."""
    from nnexp.sweeps.mattered import lines
    from nnexp.sweeps.report_data import open_sweep, read_sweep

    args = sweep_arguments(PROG, __doc__.splitlines()[0]).parse_args(argv)
    client = open_sweep(args.tracking_uri, args.parent_run_id)
    report = read_sweep(client, args.parent_run_id, with_histories=False)
    if report.partial:
        print(f"partial: the sweep is still running ({report.running} children running)")
    print("\n".join(lines(report.importance, report.rows, report.objective, report.direction)))
    return 0


def main() -> None:
    """Entry point: one-line errors (exit 2) for unknown runs or an unreachable store."""
    run_cli(lambda: sys.exit(why_main(sys.argv[1:])), PROG)


if __name__ == "__main__":
    main()
