"""How long a joblib sweep takes to end after its last line: its pool's workers' exit.

A 2-job sweep (`python -m nnexp.train -m hydra/launcher=joblib lr=0.1,0.05 train.epochs=2`) as
a whole process in a new folder, with this tree's code and (`--before DIR`, an export of an
older commit: `git archive COMMIT | tar -x -C DIR`) an older tree's, in rotating rounds with
one nnexp cache folder. Printed: the sweep's wall time and its tail, the time from its last
output line (the `open: python -m nnexp.ui ...` line) to the process's end, medians.

    python benchmarks/pool_exit.py [--rounds 5] [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["-m", "hydra/launcher=joblib", "lr=0.1,0.05", "train.epochs=2"]


def run_once(code: Path, folder: Path, cache: Path) -> tuple[float, float]:
    """Wall seconds of the sweep, and of its tail after the last line it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "NNEXP_"))}
    env.update(PYTHONPATH=str(code), NNEXP_CACHE_DIR=str(cache), PYTHONUNBUFFERED="1")
    folder.mkdir()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "nnexp.train", *SWEEP], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    last = start
    lines = []
    for line in proc.stdout:
        last = time.perf_counter()
        lines.append(line)
    status = proc.wait()
    end = time.perf_counter()
    if status != 0 or not lines[-1].startswith("open: "):
        sys.exit(f"the sweep failed ({status}):\n{''.join(lines[-20:])}")
    return end - start, end - last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", type=Path, help="a folder with older nnexp code")
    args = parser.parse_args()
    codes = {"this tree": ROOT}
    if args.before:
        codes["before"] = args.before.resolve()
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in codes}
    with tempfile.TemporaryDirectory(prefix="nnexp-pool-exit-") as tmp:
        work = Path(tmp)
        run_once(ROOT, work / "warm-up", work / "cache")  # the cache's empty store
        names = list(codes)
        for i in range(args.rounds):
            for name in names[i % len(names):] + names[:i % len(names)]:
                figures[name].append(run_once(codes[name], work / f"{name} {i}", work / "cache"))
            print(f"round {i + 1}: " + ", ".join(
                f"{n} {figures[n][-1][0]:.2f} s (tail {figures[n][-1][1]:.2f} s)" for n in names),
                flush=True)
    result = {name: {"wall_s": round(statistics.median(r[0] for r in rows), 3),
                     "tail_s": round(statistics.median(r[1] for r in rows), 3)}
              for name, rows in figures.items()}
    print(f"\n{' '.join(SWEEP)}, whole processes, median of {args.rounds}:")
    for name, values in result.items():
        print(f"  {name:10s} {values['wall_s']:6.2f} s, "
              f"after its last line {values['tail_s']:.2f} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
