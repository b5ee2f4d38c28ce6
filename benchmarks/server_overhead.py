"""What a shared MLflow server on PostgreSQL costs against the embedded SQLite store (issue 17).

Everything runs on this machine: a PostgreSQL cluster of its own (`nnexp.server.LocalPostgres`,
durable: fsync on) under an `mlflow server` with its artifact proxy (`--workers`, default 2),
against a SQLite store in a temporary folder. Stores alternate within each round, and medians
are quoted (the machine is shared and noisy).

1. One run: `run_experiment` of the default config in-process (imports paid once), wall time
   until the store holds the whole record (the run waits for its writer at the end).
2. An 8-job joblib sweep (`python -m nnexp.train -m hydra/launcher=joblib
   hydra.launcher.n_jobs=8`, eight learning rates, the default config), whose jobs start and
   end together: wall time of the command. The server's access log says how many requests each
   job made, by endpoint, and the most it got in one second.
3. Per value: `log_batch` of 1 000 metric points (the writer's batch), from 1 client and from 8
   processes at once, per value written.

    python benchmarks/server_overhead.py                 # 3 rounds, about 4 minutes
    python benchmarks/server_overhead.py --repeats 5 --workers 4

The last line of output is one JSON object with the figures.
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
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LRS = "lr=0.003,0.002,0.001,0.0007,0.0005,0.0003,0.0002,0.0001"
BATCH = 1000
ACCESS = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) .*\"(GET|POST|PUT|DELETE) ([^ ?\"]+)")
BURST_CLIENT = """
import sys, time
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
client = MlflowClient(sys.argv[1])
run_id, n = sys.argv[2], int(sys.argv[3])
points = [Metric("m", float(i), 0, i) for i in range(n)]
client.get_run(run_id)  # connect and warm up before the common start
print("ready", flush=True)
sys.stdin.readline()
began = time.perf_counter()
client.log_batch(run_id, metrics=points)
print(time.perf_counter() - began)
"""


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "NNEXP_"))}
    return {**keep, "PYTHONPATH": str(ROOT)}


# ---- 1. one run -----------------------------------------------------------------------------

def one_run(uri: str, experiment: str) -> float:
    from hydra import compose, initialize_config_dir

    from nnexp.sweeps.job import run_job

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"tracking.uri={uri}",
                                           f"tracking.experiment={experiment}"])
    started = time.perf_counter()
    result = run_job(cfg, run_name="bench", verbose=False)
    assert not result.kept_locally, "the store did not take the run"
    return time.perf_counter() - started


# ---- 2. an 8-job sweep ----------------------------------------------------------------------

def sweep(uri: str, experiment: str, cwd: Path) -> float:
    command = [sys.executable, "-m", "nnexp.train", "-m", "hydra/launcher=joblib",
               "hydra.launcher.n_jobs=8", LRS, f"tracking.uri={uri}",
               f"tracking.experiment={experiment}"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"the sweep failed:\n{done.stderr[-2000:]}")
    return seconds


def endpoint(method: str, path: str) -> str:
    """`POST runs/log-batch`; artifact uploads and logged models without their ids."""
    if path.startswith("/api/2.0/mlflow-artifacts/"):
        return f"{method} artifact files"
    path = re.sub(r"/m-[0-9a-f]+", "/<id>", path.removeprefix("/api/2.0/mlflow/"))
    return f"{method} {path}"


def requests_by_endpoint(log: Path, start: int) -> tuple[Counter[str], int]:
    """Requests the server logged after byte `start` of its log, by endpoint; the most in one
    second."""
    endpoints: Counter[str] = Counter()
    per_second: Counter[str] = Counter()
    with open(log, "rb") as handle:
        handle.seek(start)
        for raw in handle.read().decode("utf-8", "replace").splitlines():
            found = ACCESS.search(raw)
            if found and found.group(3) != "/health":
                endpoints[endpoint(found.group(2), found.group(3))] += 1
                per_second[found.group(1)] += 1
    return endpoints, max(per_second.values(), default=0)


def store_points(uri: str, experiment: str) -> tuple[int, int]:
    """(runs, metric values) the experiment holds."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    values = sum(len(client.get_metric_history(r.info.run_id, k))
                 for r in runs for k in r.data.metrics)
    return len(runs), values


# ---- 3. per value ---------------------------------------------------------------------------

def per_value(uri: str, clients: int, repeats: int) -> float:
    """Seconds per metric value of one log_batch of BATCH points, `clients` processes at once."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("bench-values")
    experiment_id = (experiment.experiment_id if experiment else
                     client.create_experiment("bench-values"))
    times = []
    for _ in range(repeats):
        run_ids = [client.create_run(experiment_id).info.run_id for _ in range(clients)]
        procs = [subprocess.Popen([sys.executable, "-c", BURST_CLIENT, uri, run_id, str(BATCH)],
                                  env=env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True) for run_id in run_ids]
        for proc in procs:  # every client imported and connected: then all write at once
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        times += [float(p.communicate()[0]) for p in procs]
    return median(times) / BATCH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="mlflow server workers")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from nnexp.config import register_configs
    from nnexp.server import LocalPostgres, server_command, start_server, stop_server
    from nnexp.ui import free_port

    register_configs()
    with tempfile.TemporaryDirectory(prefix="nnexp-server-bench-") as tmp:
        work = Path(tmp)
        os.chdir(work)  # runs remember their stores in ./mlruns: not the repository's
        sqlite = f"sqlite:///{work / 'sqlite' / 'mlflow.db'}"
        pg_dir = Path(tempfile.mkdtemp(prefix="nnexp-bench-pg-"))  # reachable by `postgres`
        postgres = LocalPostgres(pg_dir).start()
        port = free_port()
        server = f"http://127.0.0.1:{port}"
        log = work / "server.log"
        process = start_server(server_command(postgres.uri, port, work / "artifacts",
                                              workers=args.workers), server, cwd=work, log=log)
        try:
            stores = {"server": server, "sqlite": sqlite}
            for name, uri in stores.items():  # warm-up: imports, schema, experiment creation
                one_run(uri, f"warm-{name}")
            runs: dict[str, list[float]] = {k: [] for k in stores}
            sweeps: dict[str, list[float]] = {k: [] for k in stores}
            traffic: list[tuple[Counter[str], int]] = []
            for round_ in range(args.repeats):
                for name, uri in stores.items():
                    runs[name].append(one_run(uri, f"run-{name}"))
                for name, uri in stores.items():
                    before = log.stat().st_size
                    sweeps[name].append(sweep(uri, f"sweep-{name}-{round_}", work))
                    if name == "server":
                        traffic.append(requests_by_endpoint(log, before))
            n_runs, n_values = store_points(server, "sweep-server-0")
            values = {f"{name}_{clients}": per_value(uri, clients, args.repeats)
                      for name, uri in stores.items() for clients in (1, 8)}
        finally:
            stop_server(process)
            postgres.stop()
            import shutil

            shutil.rmtree(pg_dir, ignore_errors=True)

    run = {k: median(v) for k, v in runs.items()}
    swept = {k: median(v) for k, v in sweeps.items()}
    endpoints, burst = traffic[0]
    per_job = {k: round(v / 8, 1) for k, v in endpoints.most_common()}
    print(f"one run, default config (median of {args.repeats}): server {run['server']:.3f} s, "
          f"SQLite {run['sqlite']:.3f} s: ratio {run['server'] / run['sqlite']:.3f}")
    print(f"8-job joblib sweep (median of {args.repeats}): server {swept['server']:.2f} s, "
          f"SQLite {swept['sqlite']:.2f} s: ratio {swept['server'] / swept['sqlite']:.3f}")
    print(f"  the server's sweep: {n_runs} runs, {n_values} metric values in the store; "
          f"{sum(endpoints.values())} requests ({sum(endpoints.values()) / 8:.0f} a job), at most "
          f"{burst} in one second")
    print(f"  requests a job: {per_job}")
    for clients in (1, 8):
        server_us, sqlite_us = values[f"server_{clients}"] * 1e6, values[f"sqlite_{clients}"] * 1e6
        print(f"per metric value, log_batch of {BATCH}, {clients} client(s) at once: server "
              f"{server_us:.0f} us, SQLite {sqlite_us:.0f} us: ratio {server_us / sqlite_us:.2f}")
    print(json.dumps({
        "run_server_s": round(run["server"], 3), "run_sqlite_s": round(run["sqlite"], 3),
        "run_ratio": round(run["server"] / run["sqlite"], 3),
        "sweep8_server_s": round(swept["server"], 2), "sweep8_sqlite_s": round(swept["sqlite"], 2),
        "sweep8_ratio": round(swept["server"] / swept["sqlite"], 3),
        "sweep8_requests_per_job": round(sum(endpoints.values()) / 8, 1),
        "sweep8_max_requests_per_second": burst, "sweep8_metric_values": n_values,
        **{f"per_value_us_{k}": round(v * 1e6, 1) for k, v in values.items()},
        "repeats": args.repeats, "server_workers": args.workers}))


if __name__ == "__main__":
    main()
