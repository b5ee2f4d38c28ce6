"""What MLflow tracking costs the default run: full logging vs `tracking.enabled=false`.

Paired runs in one process (on, off, on, off, ...) after a warm-up, so imports are paid once;
medians of the whole run and of the training loop alone (where buffered metric logging is the
only tracking work). A third variant, "bare", keeps MLflow but switches off the plots and the
pyfunc model: the least any MLflow run costs (run, params, tags, config files, metrics).
`--e2e` also times `python -m nnexp.train` as separate processes.

    python benchmarks/tracking_overhead.py [--repeats 5] [--e2e] [overrides ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from nnexp.config import register_configs
from nnexp.experiment import run_experiment

CONF = Path(__file__).resolve().parents[1] / "conf"
TARGET = 1.03


def _cfg(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=overrides)


def _time_run(overrides: list[str]) -> tuple[float, float]:
    started = time.perf_counter()
    result = run_experiment(_cfg(overrides), run_name="overhead", verbose=False)
    return time.perf_counter() - started, result.loop.seconds


def _time_process(args: list[str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nnexp.train", *args], cwd=cwd, check=True,
                   capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--e2e", action="store_true", help="also time whole processes")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    register_configs()
    with tempfile.TemporaryDirectory() as tmp:
        store = f"tracking.uri=sqlite:///{tmp}/mlruns/mlflow.db"
        on = [*args.overrides, store]
        off = [*args.overrides, "tracking.enabled=false"]
        bare = [*on, "tracking.plots=false", "tracking.log_model=false"]
        variants = {"on": on, "off": off, "bare": bare}
        for overrides in variants.values():  # warm-up: imports, database creation, caches
            _time_run(overrides)
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
        for _ in range(args.repeats):
            for name, overrides in variants.items():
                runs[name].append(_time_run(overrides))
        total = {k: statistics.median(t for t, _ in v) for k, v in runs.items()}
        loop = {k: statistics.median(s for _, s in v) for k, v in runs.items()}
        print(f"whole run, in-process  (median of {args.repeats}): "
              f"tracking on {total['on']:.3f} s, off {total['off']:.3f} s, "
              f"ratio {total['on'] / total['off']:.3f}")
        print(f"bare MLflow run        (median of {args.repeats}): "
              f"no plots, no model {total['bare']:.3f} s, "
              f"ratio {total['bare'] / total['off']:.3f}")
        print(f"training loop only     (median of {args.repeats}): "
              f"tracking on {loop['on']:.3f} s, off {loop['off']:.3f} s, "
              f"ratio {loop['on'] / loop['off']:.3f}")
        for label, ratio in (("whole run", total["on"] / total["off"]),
                             ("training loop", loop["on"] / loop["off"])):
            verdict = "met" if ratio <= TARGET else "missed"
            print(f"target overhead <= {TARGET}: {label} {verdict} ({ratio:.3f})")
        result = {
            "overhead_ratio": round(total["on"] / total["off"], 4),
            "loop_overhead_ratio": round(loop["on"] / loop["off"], 4),
            "run_on_s": round(total["on"], 4), "run_off_s": round(total["off"], 4),
            "fixed_tracking_cost_s": round(total["on"] - total["off"], 4),
            "bare_overhead_ratio": round(total["bare"] / total["off"], 4),
            "repeats": args.repeats, "overrides": args.overrides,
        }
        if args.e2e:
            e2e = {"on": [], "off": []}
            for _ in range(args.repeats):
                e2e["on"].append(_time_process(args.overrides, tmp))
                e2e["off"].append(_time_process([*args.overrides, "tracking.enabled=false"],
                                                tmp))
            med = {k: statistics.median(v) for k, v in e2e.items()}
            print(f"whole process          (median of {args.repeats}): "
                  f"tracking on {med['on']:.2f} s, off {med['off']:.2f} s, "
                  f"ratio {med['on'] / med['off']:.3f}")
            result["process_overhead_ratio"] = round(med["on"] / med["off"], 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
