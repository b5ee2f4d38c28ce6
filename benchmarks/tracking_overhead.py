"""What MLflow tracking costs a run, measured against the same run with `tracking.enabled=false`.

Three measurements, each in paired rounds (on, off, on, off, ...) in one process after a warm-up,
so imports are paid once and drift hits both sides alike; medians are quoted, of wall time and of
the process's CPU time (all threads: the store writer works in a background thread).

1. The default run: tracking's fixed cost, `on - off`, with and without plots (issue 15's target:
   <= 0.15 s, plots included), and where it goes (run creation, plots, model, waiting for the
   store at the end).
2. A long run, `train.epochs=1500 tracking.log_every_n_steps=1` on digits (target: on/off <=
   1.05), checking the record: the full history artifact holds every step, the store at most the
   budget of points per metric.
3. `--server`: the default run against a real `mlflow server` (SQLite behind it) on 127.0.0.1,
   against the same run on SQLite directly (target: <= 1.10).

    python benchmarks/tracking_overhead.py [--repeats 5] [--long-repeats 2] [--server]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir

from nnexp.config import register_configs
from nnexp.sweeps.job import run_job

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
TARGETS = {"fixed_cost_s": 0.15, "long_ratio": 1.05, "server_ratio": 1.10}
LONG_EPOCHS = "1500"  # --long-epochs 1500,6000 shows that tracking's added seconds stay flat


def _cfg(overrides: list[str]) -> Any:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=overrides)


def _time_run(overrides: list[str]) -> dict[str, Any]:
    cfg = _cfg(overrides)
    wall, cpu = time.perf_counter(), time.process_time()
    result = run_job(cfg, run_name="overhead", verbose=False)
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
            "loop": result.loop.seconds, "run_id": result.run_id}


def _paired(variants: dict[str, list[str]], repeats: int) -> dict[str, list[dict[str, Any]]]:
    for overrides in variants.values():  # warm-up: imports, caches, the store's schema
        _time_run(overrides)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, overrides in variants.items():
            runs[name].append(_time_run(overrides))
    return runs


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _verdict(value: float, target: float) -> str:
    return f"{'met' if value <= target else 'missed'} ({value:.3f} vs <= {target})"


def default_run(store: str, repeats: int) -> dict[str, Any]:
    runs = _paired({"on": [store], "no plots": [store, "tracking.plots=false"],
                    "off": ["tracking.enabled=false"]}, repeats)
    fixed = {k: _median(runs[k], "wall") - _median(runs["off"], "wall")
             for k in ("on", "no plots")}
    fixed_cpu = {k: _median(runs[k], "cpu") - _median(runs["off"], "cpu")
                 for k in ("on", "no plots")}
    print(f"default run (median of {repeats}): off {_median(runs['off'], 'wall'):.3f} s; "
          f"tracking's fixed cost {fixed['on']:.3f} s wall, {fixed_cpu['on']:.3f} s CPU; "
          f"without plots {fixed['no plots']:.3f} s wall, {fixed_cpu['no plots']:.3f} s CPU")
    print(f"  target fixed cost <= {TARGETS['fixed_cost_s']} s, plots included: "
          f"{_verdict(fixed['on'], TARGETS['fixed_cost_s'])}; without plots: "
          f"{_verdict(fixed['no plots'], TARGETS['fixed_cost_s'])}")
    return {"fixed_cost_s": round(fixed["on"], 4), "fixed_cost_cpu_s": round(fixed_cpu["on"], 4),
            "fixed_cost_no_plots_s": round(fixed["no plots"], 4),
            "fixed_cost_no_plots_cpu_s": round(fixed_cpu["no plots"], 4),
            "default_off_s": round(_median(runs["off"], "wall"), 4)}


def long_run(store: str, uri: str, repeats: int, epochs: int) -> dict[str, Any]:
    long = [f"train.epochs={epochs}", "tracking.log_every_n_steps=1"]
    runs = _paired({"on": [store, *long], "off": ["tracking.enabled=false", *long]}, repeats)
    ratio = _median(runs["on"], "wall") / _median(runs["off"], "wall")
    loop_ratio = _median(runs["on"], "loop") / _median(runs["off"], "loop")
    cpu_ratio = _median(runs["on"], "cpu") / _median(runs["off"], "cpu")
    record = _check_record(uri, runs["on"][-1]["run_id"])
    added = _median(runs["on"], "wall") - _median(runs["off"], "wall")
    print(f"long run {' '.join(long)} (median of {repeats}): on {_median(runs['on'], 'wall'):.2f}"
          f" s, off {_median(runs['off'], 'wall'):.2f} s: ratio {ratio:.3f} "
          f"(training loop {loop_ratio:.3f}, CPU {cpu_ratio:.3f}); tracking added {added:.2f} s")
    print(f"  record: {record['history_points']} values in metrics/history.npz, at most "
          f"{record['store_max_points']} points per metric in the store "
          f"({record['store_points']} in all)")
    print(f"  target on/off <= {TARGETS['long_ratio']}: {_verdict(ratio, TARGETS['long_ratio'])}")
    on, off = _median(runs["on"], "wall"), _median(runs["off"], "wall")
    return {"long_epochs": epochs, "long_added_s": round(added, 3), "long_ratio": round(ratio, 4),
            "long_loop_ratio": round(loop_ratio, 4), "long_cpu_ratio": round(cpu_ratio, 4),
            "long_on_s": round(on, 3), "long_off_s": round(off, 3), **record}


def _check_record(uri: str, run_id: str) -> dict[str, int]:
    """What the long run left: the full history artifact and the thinned series in the store."""
    from mlflow.tracking import MlflowClient

    from nnexp.experiment.history import load_history

    client = MlflowClient(uri)
    with tempfile.TemporaryDirectory() as tmp:
        history = load_history(Path(client.download_artifacts(run_id, "metrics/history.npz",
                                                              tmp)))
    counts = {k: len(client.get_metric_history(run_id, k))
              for k in client.get_run(run_id).data.metrics}
    return {"history_points": sum(len(values) for _, values in history.values()),
            "store_points": sum(counts.values()), "store_max_points": max(counts.values())}


def server_run(tmp: Path, store: str, repeats: int) -> dict[str, Any]:
    from nnexp.ui import free_port, wait_healthy

    port = free_port()
    (tmp / "server").mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         f"sqlite:///{tmp / 'server' / 'mlflow.db'}", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--no-serve-artifacts", "--default-artifact-root",
         str(tmp / "server" / "artifacts")], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        if not wait_healthy(f"http://127.0.0.1:{port}", server, timeout_s=120):
            sys.exit("the mlflow server did not start")
        runs = _paired({"server": [f"tracking.uri=http://127.0.0.1:{port}"], "sqlite": [store]},
                       repeats)
    finally:
        _stop(server)
    ratio = _median(runs["server"], "wall") / _median(runs["sqlite"], "wall")
    print(f"default run against an MLflow server (median of {repeats}): "
          f"{_median(runs['server'], 'wall'):.3f} s, on SQLite "
          f"{_median(runs['sqlite'], 'wall'):.3f}"
          f" s: ratio {ratio:.3f}")
    print(f"  target server/SQLite <= {TARGETS['server_ratio']}: "
          f"{_verdict(ratio, TARGETS['server_ratio'])}")
    return {"server_ratio": round(ratio, 4)}


def _stop(process: subprocess.Popen[bytes]) -> None:
    import os
    import signal

    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the default run")
    parser.add_argument("--long-repeats", type=int, default=2, help="rounds of the long run")
    parser.add_argument("--server", action="store_true", help="also against an mlflow server")
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--long-epochs", default=LONG_EPOCHS,
                        help="comma-separated lengths of the long run (default 1500)")
    args = parser.parse_args()
    register_configs()
    steps: list[Callable[[], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="nnexp-tracking-bench-") as tmp:
        uri = f"sqlite:///{tmp}/mlruns/mlflow.db"
        store = f"tracking.uri={uri}"
        steps.append(lambda: default_run(store, args.repeats))
        if not args.skip_long:
            for epochs in (int(e) for e in args.long_epochs.split(",")):
                steps.append(lambda n=epochs: {f"long_{n}": long_run(store, uri,
                                                                    args.long_repeats, n)})
        if args.server:
            steps.append(lambda: server_run(Path(tmp), store, args.repeats))
        figures: dict[str, Any] = {}
        for step in steps:
            figures.update(step())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
