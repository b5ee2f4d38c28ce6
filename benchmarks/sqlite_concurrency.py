"""Many `python -m nnexp.train` at once on the default SQLite store, against one run alone.

Starts one default run alone in a fresh folder (the reference), then N (16 by default) default
runs at once on one store in another fresh folder, each a real process. Prints, for each: how
many runs ended FINISHED in the store without a sync, how many exited 0, how many left a record
waiting in `mlruns/outbox/`, the wall time per run (median and max), and the median against
the run alone measured in the same invocation. Also says whether the store file is in WAL mode.

On 2 cores, 16 runs share the CPU: the wall per run is mostly that, not the store.

Usage::

    python benchmarks/sqlite_concurrency.py          # 16 runs
    python benchmarks/sqlite_concurrency.py --runs 8
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path


def run_batch(folder: Path, n: int) -> dict[str, object]:
    """Start `n` runs together and time each one until it exits."""
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "nnexp.train", f"seed={i}"], cwd=folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(n)]
    walls: dict[int, float] = {}
    while len(walls) < n:
        for proc in procs:
            if proc.pid not in walls and proc.poll() is not None:
                walls[proc.pid] = time.monotonic() - started
        time.sleep(0.2)
    db = folder / "mlruns" / "mlflow.db"
    with closing(sqlite3.connect(db)) as conn:
        statuses = [row[0] for row in conn.execute("SELECT status FROM runs")]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    outbox = folder / "mlruns" / "outbox"
    waiting = len(list(outbox.iterdir())) if outbox.is_dir() else 0
    return {"finished": statuses.count("FINISHED"), "exit0": sum(p.returncode == 0 for p in procs),
            "waiting": waiting, "median": statistics.median(walls.values()),
            "max": max(walls.values()), "mode": mode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as alone, tempfile.TemporaryDirectory() as many:
        reference = run_batch(Path(alone), 1)
        measured = run_batch(Path(many), args.runs)
    for label, n, figures in (("alone", 1, reference), (f"{args.runs} at once", args.runs,
                                                        measured)):
        print(f"{label:>12}: {figures['finished']}/{n} FINISHED without sync, "
              f"{figures['exit0']}/{n} exit 0, {figures['waiting']} waiting in outbox/, "
              f"wall per run median {figures['median']:.1f} s (max {figures['max']:.1f} s), "
              f"journal mode {figures['mode']}")
    print(f"median wall per run, {args.runs} at once vs alone: "
          f"{measured['median'] / reference['median']:.1f}x")


if __name__ == "__main__":
    main()
