"""A user's first run in a new folder (its ./mlruns store created) against a run in a folder whose
store exists, as whole processes: what creating the store costs.

Variants, each round in the same rotating order, each a fresh `python -m nnexp.train` (default
config) with one nnexp cache folder for the whole benchmark (as a user's ~/.cache/nnexp):

- `new folder`: an empty folder each round (the store is created: a copy of the empty store
  nnexp keeps per MLflow install, made by the warm-up run)
- `existing store`: the same folder every round (its store made by the warm-up run)
- `new folder, before` (with `--before DIR`): an empty folder each round, the code in DIR (an
  export of an older commit: `git archive COMMIT | tar -x -C DIR`), which ran MLflow's
  migrations for every new store

Wall seconds and the process's CPU seconds (user + system) are printed as medians, and the
creation's cost as the paired difference to `existing store`.

    python benchmarks/first_run.py [--rounds 5] [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env(code: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "NNEXP_"))}
    return {**env, "PYTHONPATH": str(code), "NNEXP_CACHE_DIR": str(cache)}


def run_once(code: Path, folder: Path, cache: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `python -m nnexp.train` in `folder`; exits if it fails."""
    folder.mkdir(exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nnexp.train"], cwd=folder,
                          env=_env(code, cache), capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"nnexp.train in {folder} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", type=Path, help="a folder with older nnexp code")
    args = parser.parse_args()
    codes = {"new folder": ROOT, "existing store": ROOT}
    if args.before:
        codes["new folder, before"] = args.before.resolve()
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in codes}
    with tempfile.TemporaryDirectory(prefix="nnexp-first-run-") as tmp:
        work, cache = Path(tmp), Path(tmp) / "cache"
        run_once(ROOT, work / "existing", cache)  # the existing store, and the kept empty one
        names = list(codes)
        for i in range(args.rounds):
            for name in names[i % len(names):] + names[:i % len(names)]:
                folder = work / ("existing" if name == "existing store" else f"{name} {i}")
                figures[name].append(run_once(codes[name], folder, cache))
            print(f"round {i + 1}: " + ", ".join(f"{n} {figures[n][-1][0]:.2f} s"
                                                 for n in names), flush=True)
    base = figures["existing store"]
    result = {}
    print(f"\nwhole processes, median of {args.rounds} rounds (wall s / CPU s):")
    for name, rows in figures.items():
        wall, cpu = (statistics.median(r[k] for r in rows) for k in (0, 1))
        extra = [(r[0] - b[0], r[1] - b[1]) for r, b in zip(rows, base, strict=True)]
        more_wall, more_cpu = (statistics.median(e[k] for e in extra) for k in (0, 1))
        result[name] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                        "creation_wall_s": round(more_wall, 3),
                        "creation_cpu_s": round(more_cpu, 3)}
        print(f"  {name:20s} {wall:6.2f} s / {cpu:6.2f} s"
              + ("" if name == "existing store" else
                 f"   the store's creation (paired median): {more_wall:+.2f} s / "
                 f"{more_cpu:+.2f} s CPU"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
