"""The whole default command against the script a user would write instead, as whole processes.

Variants, each a fresh `python` process started in its own temporary folder (its store there):

- `nnexp`: `python -m nnexp.train` (default: digits MLP, 30 epochs, SQLite store in ./mlruns)
- `nnexp off`: the same with `tracking.enabled=false`
- `before` (with `--before DIR`): `python -m nnexp.train` with DIR first on PYTHONPATH, e.g. an
  export of an older commit (`git archive main | tar -x -C DIR`)
- `reference`: benchmarks/sklearn_mlflow_reference.py (scikit-learn's MLPClassifier, same
  epochs and batch, params, per-epoch metrics and `mlflow.sklearn.log_model` to SQLite)
- `reference lean` (`--lean`): the same script given `pip_requirements`, as a user who knows
  that MLflow otherwise infers them in a subprocess would write it

Each variant runs once first (creating its store: schema migrations are not a run's cost), then
`--rounds` paired rounds, variants alternating; medians, the spread (min-max) and the ratio to
the reference are printed. Then `-X importtime` of the default command (and of `before`): the
15 top-level imports with the largest cumulative time. The last line is JSON with the figures.

    python benchmarks/whole_command.py [--rounds 5] [--before DIR] [--lean]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "benchmarks" / "sklearn_mlflow_reference.py"
TARGET_RATIO = 0.40
IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")


def _env(pythonpath: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = str(pythonpath)
    return env


def variants(args: argparse.Namespace) -> dict[str, tuple[list[str], Path]]:
    """name -> (command, PYTHONPATH)."""
    train = [sys.executable, "-m", "nnexp.train"]
    out = {"nnexp": (train, ROOT), "nnexp off": ([*train, "tracking.enabled=false"], ROOT),
           "reference": ([sys.executable, str(REFERENCE)], ROOT)}
    if args.lean:
        out["reference lean"] = ([sys.executable, str(REFERENCE), "mlruns", "--lean"], ROOT)
    if args.before:
        out["before"] = (train, Path(args.before).resolve())
    return out


def run_once(command: list[str], pythonpath: Path, folder: Path) -> float:
    """Wall seconds of one whole process in `folder`; exits if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=_env(pythonpath), capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def import_profile(command: list[str], pythonpath: Path, folder: Path, top: int = 15) -> list:
    """The `top` top-level imports by cumulative seconds of one run with -X importtime."""
    done = subprocess.run([command[0], "-X", "importtime", *command[1:]], cwd=folder,
                          env=_env(pythonpath), capture_output=True, text=True, check=True)
    rows = [(int(m.group(1)) / 1e6, m.group(2)) for m in map(IMPORT_LINE.match,
                                                              done.stderr.splitlines())
            if m and not m.group(2).startswith(" ")]
    total = sum(seconds for seconds, _ in rows)
    return [(round(total, 3), "(all top-level imports)"),
            *sorted(((round(s, 3), n) for s, n in rows), reverse=True)[:top]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", help="a folder with older nnexp code to run as 'before'")
    parser.add_argument("--lean", action="store_true", help="add the reference with "
                        "pip_requirements given")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    chosen = variants(args)
    times: dict[str, list[float]] = {name: [] for name in chosen}
    with tempfile.TemporaryDirectory(prefix="nnexp-whole-") as tmp:
        folders = {name: Path(tmp) / name.replace(" ", "_") for name in chosen}
        for name, (command, path) in chosen.items():
            folders[name].mkdir()
            run_once(command, path, folders[name])  # the store's creation
        for i in range(args.rounds):
            order = list(chosen) if i % 2 == 0 else list(reversed(chosen))
            for name in order:
                times[name].append(run_once(*chosen[name], folders[name]))
            print(f"round {i + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n in chosen),
                  flush=True)
        profiles = {} if args.no_profile else {
            name: import_profile(*chosen[name], folders[name])
            for name in ("nnexp", "before") if name in chosen}
    medians = {name: statistics.median(t) for name, t in times.items()}
    reference = medians["reference"]
    print(f"\nwhole processes, median of {args.rounds} paired rounds (min-max):")
    for name, t in times.items():
        print(f"  {name:15s} {medians[name]:7.2f} s ({min(t):.2f}-{max(t):.2f})  "
              f"{medians[name] / reference:.3f}x the reference")
    ratio = medians["nnexp"] / reference
    print(f"target: the default command <= {TARGET_RATIO}x the reference: "
          f"{'met' if ratio <= TARGET_RATIO else 'missed'} ({ratio:.3f})")
    for name, rows in profiles.items():
        print(f"\n-X importtime, {name} (cumulative seconds, top-level imports):")
        for seconds, module in rows:
            print(f"  {seconds:7.3f}  {module}")
    print(json.dumps({"medians_s": {k: round(v, 3) for k, v in medians.items()},
                      "spread_s": {k: [round(min(t), 3), round(max(t), 3)]
                                   for k, t in times.items()},
                      "ratio": round(ratio, 4), "profiles": profiles}))


if __name__ == "__main__":
    main()
