"""What recording a run costs besides MLflow's own import, and a long every-step run on/off.

1. Default run (digits MLP, 30 epochs, plots on). Each round is a fresh process that first
   imports nnexp's job code and MLflow with its SQL store modules (MLflow's own import, not
   counted), then trains with tracking off (paying the data and engine's first use), then
   times: tracking on (the first recorded run of the process: matplotlib's import, the store's
   first client, the run's records and plots), tracking off, on, off (warm). Costs are
   `on - off` of wall time; medians over the rounds (target: <= 0.15 s, plots included).
   Then MLflow's own calls for the last run's record (its metric values, params, tags, files
   and pyfunc model, into a new run of the same store), made one after another and timed alone:
   what a plain MLflow script would spend on the same record (nnexp's SQL bulk insert and its
   writer thread, which works while training goes on, can take less).
2. `train.epochs=1500 tracking.log_every_n_steps=1` as whole processes
   (`python -m nnexp.train ...`), tracking on and off in a rotating order (target: on/off <=
   1.35); optionally with overrides for both (`--long-extra`), tracking on with plots
   (`--long-plots`) and tracking on with an older tree's code (`--long-before`) in the same
   rounds. Also in those rounds: a process that only imports MLflow's client and SQL store, and
   a bare `python -c pass`; their difference is MLflow's import, which no recording of the run
   can avoid, set against what the target allows tracking to add (0.35 x off).

    python benchmarks/recording_cost.py [--rounds 5] [--long-rounds 3]
    python benchmarks/recording_cost.py --skip-default --long-extra tracking.plots=false \
        --long-plots --long-before DIR     # the long run alone: plots' share, older code

The stores are in a temporary folder. The last line is JSON with the figures.
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
TARGETS = {"recording_s": 0.15, "long_ratio": 1.35}
LONG = ["train.epochs=1500", "tracking.log_every_n_steps=1"]
ROUND = """
import json, sys, time
import mlflow, mlflow.store.tracking.sqlalchemy_store  # MLflow's own import: not counted
from hydra import compose, initialize_config_dir
from nnexp.config import register_configs
from nnexp.sweeps.job import run_job
register_configs()
conf, uri = sys.argv[1], sys.argv[2]
last = []
def timed(*overrides):
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    start = time.perf_counter()
    last.append(run_job(cfg, run_name="cost", verbose=False).run_id)
    return time.perf_counter() - start
def floor(run_id):
    # MLflow's own calls for the record of run_id (no plots), made directly: a new run, its
    # metric values, params and tags, its artifact files, its pyfunc model, its end
    import tempfile
    from pathlib import Path
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient
    from nnexp.tracking.model import log_network_model
    client = MlflowClient(uri)
    source = client.get_run(run_id)
    points = [Metric(m.key, m.value, m.timestamp, m.step) for key in source.data.metrics
              for m in client.get_metric_history(run_id, key)]
    params = [Param(k, v) for k, v in source.data.params.items()]
    tags = [RunTag(k, v) for k, v in source.data.tags.items() if not k.startswith("mlflow.")]
    files = Path(tempfile.mkdtemp())
    client.download_artifacts(run_id, "", str(files))
    meta = json.loads((files / "model_meta.json").read_text())
    example = [[0.0] * int(meta["n_features"])] * 3
    start = time.perf_counter()
    run = client.create_run(source.info.experiment_id).info.run_id
    for i in range(0, max(len(points), 1), 1000):
        client.log_batch(run, metrics=points[i:i + 1000], params=params if not i else [],
                         tags=tags if not i else [])
    client.log_artifacts(run, str(files))
    log_network_model(uri, run, files / "weights.npz", meta, example, step=1, linked=[])
    client.set_terminated(run)
    return time.perf_counter() - start, len(points)
timed("tracking.enabled=false")
on = f"tracking.uri={uri}"
out = {"cold_on": timed(on), "off": timed("tracking.enabled=false")}
out["warm_on"], out["off2"] = timed(on), timed("tracking.enabled=false")
out["warm_no_plots"] = timed(on, "tracking.plots=false")
out["floor"], out["values"] = floor(last[-1])
print(json.dumps(out))
"""


def _env(code: Path = ROOT) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = str(code)
    return env


def default_run(tmp: Path, rounds: int) -> dict[str, float]:
    uri = f"sqlite:///{tmp}/default/mlruns/mlflow.db"
    found = []
    for i in range(rounds + 1):  # the first round creates the store
        done = subprocess.run([sys.executable, "-c", ROUND, str(ROOT / "conf"), uri], cwd=tmp,
                              env=_env(), capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"a round failed:\n{done.stderr[-2000:]}")
        if i:
            found.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"round {i}: " + ", ".join(f"{k} {v:.3f} s" for k, v in found[-1].items()
                                             if k != "values"), flush=True)
    med = {k: statistics.median(r[k] for r in found) for k in found[0]}
    off = statistics.median([r[k] for r in found for k in ("off", "off2")])
    costs = {"cold_s": med["cold_on"] - off, "warm_s": med["warm_on"] - off,
             "warm_no_plots_s": med["warm_no_plots"] - off, "off_s": off,
             "mlflow_floor_s": med["floor"]}
    spread = [r["warm_on"] - (r["off"] + r["off2"]) / 2 for r in found]
    print(f"default run, median of {rounds} processes: off {off:.3f} s; recording cost "
          f"{costs['cold_s']:.3f} s for a process's first run, {costs['warm_s']:.3f} s warm "
          f"(rounds {min(spread):.3f}-{max(spread):.3f}), {costs['warm_no_plots_s']:.3f} s "
          f"warm without plots")
    print(f"  MLflow's own calls for the same record (no plots), made directly: "
          f"{med['floor']:.3f} s ({med['values']:.0f} metric values, params, tags, files, the "
          f"pyfunc model); nnexp's warm recording without plots is "
          f"{costs['warm_no_plots_s'] / med['floor']:.2f}x that")
    for key in ("cold_s", "warm_s"):
        verdict = "met" if costs[key] <= TARGETS["recording_s"] else "missed"
        print(f"  target <= {TARGETS['recording_s']} s ({key[:-2]}): {verdict}")
    return {k: round(v, 4) for k, v in costs.items()}


def long_run(tmp: Path, rounds: int, extra: list[str], plots: bool,
             before: Path | None) -> dict[str, float]:
    """The long run's variants as whole processes, in a rotating order each round; `extra`
    overrides go to every variant; `plots`: also tracking on with `tracking.plots=true`;
    `before`: also tracking on with the code of that tree (same store)."""
    command = [sys.executable, "-m", "nnexp.train", *LONG, *extra]
    on = [*command, f"tracking.uri=sqlite:///{tmp}/long/mlruns/mlflow.db"]
    variants = {"on": (on, ROOT), "off": ([*command, "tracking.enabled=false"], ROOT)}
    if plots:
        variants["on_plots"] = ([*on, "tracking.plots=true"], ROOT)
    if before is not None:
        variants["on_before"] = (on, before)
    variants["mlflow import"] = ([sys.executable, "-c", "import mlflow.tracking, "
                                  "mlflow.store.tracking.sqlalchemy_store"], ROOT)
    variants["python"] = ([sys.executable, "-c", "pass"], ROOT)
    subprocess.run(on, cwd=tmp, env=_env(), capture_output=True, check=True)  # the store
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for i in range(rounds):
        for name in names[i % len(names):] + names[:i % len(names)]:
            args, code = variants[name]
            start = time.perf_counter()
            subprocess.run(args, cwd=tmp, env=_env(code), capture_output=True, check=True)
            times[name].append(time.perf_counter() - start)
        print(f"long round {i + 1}: " + ", ".join(f"{name} {times[name][-1]:.2f} s"
                                                 for name in names), flush=True)
    med = {name: statistics.median(found) for name, found in times.items()}
    figures = {f"long_{name.replace(' ', '_')}_s": round(value, 3) for name, value in med.items()}
    imports = [a - b for a, b in zip(times["mlflow import"], times["python"], strict=True)]
    figures["long_mlflow_import_s"] = round(statistics.median(imports), 3)
    allowed = (TARGETS["long_ratio"] - 1) * med["off"]
    print(f"MLflow's import alone (its own process less a bare python, median of {rounds}): "
          f"{figures['long_mlflow_import_s']:.2f} s; tracking on added "
          f"{med['on'] - med['off']:.2f} s; the target allows {allowed:.2f} s "
          f"({TARGETS['long_ratio'] - 1:.2f} x off), of which the import takes "
          f"{figures['long_mlflow_import_s'] / allowed:.0%}")
    for name in [n for n in names[2:] if n not in ("mlflow import", "python")] + ["on"]:
        ratios = [a / b for a, b in zip(times[name], times["off"], strict=True)]
        ratio = med[name] / med["off"]
        figures["long_ratio" if name == "on" else f"long_ratio_{name}"] = round(ratio, 4)
        print(f"{' '.join(LONG + extra)}, whole processes, median of {rounds}: {name} "
              f"{med[name]:.2f} s, off {med['off']:.2f} s, ratio {ratio:.3f} (paired rounds "
              f"{min(ratios):.3f}-{max(ratios):.3f}); target <= {TARGETS['long_ratio']}: "
              f"{'met' if ratio <= TARGETS['long_ratio'] else 'missed'}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--long-rounds", type=int, default=3)
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--skip-default", action="store_true", help="the long run alone")
    parser.add_argument("--long-extra", action="append", default=[], metavar="OVERRIDE",
                        help="an override for every long variant (tracking.plots=false)")
    parser.add_argument("--long-plots", action="store_true",
                        help="also the long run on with tracking.plots=true")
    parser.add_argument("--long-before", type=Path, metavar="DIR",
                        help="also the long run on with the code in DIR (git archive of a "
                             "commit), paired with this tree's")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nnexp-recording-") as folder:
        tmp = Path(folder)
        figures = {} if args.skip_default else default_run(tmp, args.rounds)
        if not args.skip_long:
            figures.update(long_run(tmp, args.long_rounds, args.long_extra, args.long_plots,
                                    args.long_before and args.long_before.resolve()))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
