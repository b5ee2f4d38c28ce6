"""What a sweep job costs besides training, and what a 2-worker joblib sweep gains.

Targets (issue 15): checking a job before the sweep starts <= 10 ms; a warm job's cost besides
training, in-process, <= 0.2 s.

Part 1, fixed cost per job: an 8-job sweep ``python -m nnexp.train -m lr=<8 values>
train.epochs=1`` runs as a subprocess in a temporary folder with its own store (the default
``<cwd>/mlruns/mlflow.db``). Its wall time is compared with the training time of its children
read back from the store:

    per-job fixed cost = (sweep wall time - sum of the children's training times) / 8

Training time is the run's ``nnexp.train_seconds`` tag; for older runs without it, the span of
the run's own metric timestamps (first ``train/loss_step`` to the last ``val/loss``: the loop
minus one step); the child run's duration (end - start) is reported
as an upper bound of everything that happens inside the run. The timeline of the sweep (start-up
until the parent run exists, gaps between children, summary) comes from the same timestamps.

Where the fixed cost goes: interpreter start and ``import nnexp.train`` (fresh processes), and
one in-process ``run_experiment`` in a fresh process, first (cold: lazy imports, store creation)
then warm (as the 2nd..8th job of a basic sweep, which all run in one process), timed stage by
stage: config, data, provenance, run creation, input logging, training loop, weights, model,
plots, run end.

Part 2, parallel speed-up: 8 CPU-bound jobs (digits, ``model.hidden=[256,256]``, 800 epochs,
about 8 s of training each; ``--cpu-jobs``, ``--cpu-epochs`` change that),
basic launcher against ``hydra/launcher=joblib hydra.launcher.n_jobs=2``, with
``OPENBLAS_NUM_THREADS=1`` in both (two OpenBLAS threads per process on 2 cores oversubscribe
the machine); ``--default-threads`` adds the same pair with the variable unset.
``OPENBLAS_CORETYPE`` is left as it is.

The machine is shared and noisy: modes run alternately, medians are quoted. The last line of
output is one JSON object with the figures.

    python benchmarks/sweep_overhead.py --quick          # ~2 minutes, one repeat
    python benchmarks/sweep_overhead.py                  # 3 repeats of Part 1, 2 of Part 2
    python benchmarks/sweep_overhead.py --default-threads --cpu-epochs 150
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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
LRS = ("0.1", "0.05", "0.03", "0.01", "0.005", "0.003", "0.001", "0.0005")
CPU_LRS = ("0.003", "0.002", "0.001", "0.0007", "0.0005", "0.0003", "0.0002", "0.0001")
PARENT_RE = re.compile(r"sweep: parent run ([0-9a-f]{32})")
JOB_BUDGET_S = 2.0  # per job, whole process (start-up, imports, run, summary share)
VALIDATION_TARGET_S = 0.010  # checking one job before the sweep starts (issue 15)
IN_PROCESS_TARGET_S = 0.2  # a warm job's cost besides training, in-process (issue 15)
SPEEDUP_TARGET = 1.6


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def clean_env(blas_threads: int | None) -> dict[str, str]:
    """The caller's environment without a tracking URI (the default store is the point) and with
    OPENBLAS_NUM_THREADS set to `blas_threads`, or unset for None."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "OPENBLAS_NUM_THREADS", "HYDRA_FULL_ERROR")}
    if blas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = str(blas_threads)
    return env


# --------------------------------------------------------------------------- sweeps as processes

def run_sweep(workdir: Path, label: str, overrides: list[str], env: dict[str, str]
              ) -> dict[str, Any]:
    """Run one sweep in `workdir`; wall time, launch time and the parent run id."""
    cmd = [sys.executable, "-m", "nnexp.train", "-m", *overrides,
           f"tracking.experiment={label}", f"hydra.sweep.dir={workdir / 'multirun' / label}"]
    launched = time.time()
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"sweep failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    found = PARENT_RE.search(proc.stdout + proc.stderr)
    if found is None:
        sys.exit(f"no parent run in the sweep's output: {' '.join(cmd)}")
    return {"wall": wall, "launched": launched, "parent": found.group(1),
            "command": "python -m nnexp.train -m " + " ".join(overrides)}


def train_seconds(client: Any, run: Any) -> tuple[float, str]:
    """A child's training time and where it came from (see the module docstring)."""
    tag = run.data.tags.get("nnexp.train_seconds")
    if tag:
        return float(tag), "tag nnexp.train_seconds"
    steps = client.get_metric_history(run.info.run_id, "train/loss_step")
    epochs = client.get_metric_history(run.info.run_id, "val/loss")
    if steps and epochs:
        first = min(m.timestamp for m in steps)
        last = max(m.timestamp for m in epochs)
        return (last - first) / 1000, "metric timestamps"
    return (run.info.end_time - run.info.start_time) / 1000, "run duration"


def read_sweep(uri: str, sweep: dict[str, Any]) -> dict[str, Any]:
    """The sweep's timeline and its children's training times, from the store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(sweep["parent"])
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{sweep['parent']}'",
        order_by=["attributes.start_time ASC"], max_results=1000)
    if any(c.info.status != "FINISHED" for c in children):
        sys.exit(f"a child of sweep {sweep['parent']} did not finish")
    trains, sources = [], set()
    for child in children:
        seconds, source = train_seconds(client, child)
        trains.append(seconds)
        sources.add(source)
    starts = [c.info.start_time / 1000 for c in children]
    ends = [c.info.end_time / 1000 for c in children]
    launched, wall, n = sweep["launched"], sweep["wall"], len(children)
    return {
        **sweep, "jobs": n, "train_s": trains, "train_source": ", ".join(sorted(sources)),
        "run_s": [e - s for s, e in zip(starts, ends, strict=True)],
        "sum_train": sum(trains),
        "fixed_per_job": (wall - sum(trains)) / n,
        "to_parent": parent.info.start_time / 1000 - launched,
        "parent_to_first": starts[0] - parent.info.start_time / 1000,
        "gaps": [s - e for e, s in zip(ends, starts[1:], strict=False)],
        "summary": parent.info.end_time / 1000 - ends[-1],
        "after_parent": launched + wall - parent.info.end_time / 1000,
    }


# ------------------------------------------------------------------ in-process stage breakdown

class Stages:
    """Accumulated wall time per named stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def wrap(self, owner: Any, attr: str, name: str) -> None:
        original = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - started)

        setattr(owner, attr, timed)

    def wrap_context(self, owner: Any, attr: str, enter: str, leave: str) -> None:
        original = getattr(owner, attr)

        @contextmanager
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            manager = original(*args, **kwargs)
            value = manager.__enter__()
            self.add(enter, time.perf_counter() - started)
            try:
                yield value
            except BaseException:
                started = time.perf_counter()
                if not manager.__exit__(*sys.exc_info()):
                    raise
            else:
                started = time.perf_counter()
                manager.__exit__(None, None, None)
            finally:
                self.add(leave, time.perf_counter() - started)

        setattr(owner, attr, timed)


STAGE_ORDER = ("compose config", "validate", "load data", "provenance tags", "run creation",
               "training loop", "weights+history", "plots", "run end (store drains)", "other")


def stage_breakdown(workdir: str, warm_runs: int) -> dict[str, Any]:
    """Run in a fresh process: import costs, then one cold and `warm_runs` warm experiments."""
    os.chdir(workdir)
    started = time.perf_counter()
    import nnexp.train  # noqa: F401  (what a job process imports before its first run)
    imports = time.perf_counter() - started
    from hydra import compose, initialize_config_dir

    from nnexp.config import register_configs
    from nnexp.experiment import run as exp
    from nnexp.tracking.mlflow_observer import MlflowObserver

    register_configs()
    stages = Stages()
    stages.wrap(exp, "validate", "validate")
    stages.wrap(exp, "load_data", "load data")
    stages.wrap(exp, "provenance_tags", "provenance tags")
    stages.wrap(MlflowObserver, "started", "run creation")
    stages.wrap(exp, "train_loop", "training loop")
    stages.wrap(exp, "save_network", "weights+history")
    stages.wrap(exp.MetricHistory, "save", "weights+history")
    stages.wrap(exp._Training, "_plots", "plots")
    stages.wrap(MlflowObserver, "ended", "run end (store drains)")

    overrides = ["train.epochs=1", "tracking.experiment=stages"]
    runs = []
    for i in range(1 + warm_runs):
        stages.seconds = {}
        t0 = time.perf_counter()
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("config", overrides=[*overrides, f"lr={LRS[i % len(LRS)]}"])
        stages.add("compose config", time.perf_counter() - t0)
        exp.run_experiment(cfg, run_name=f"stages{i}", overrides=overrides, verbose=False,
                           command=["python", "-m", "nnexp.train"])
        total = time.perf_counter() - t0
        stages.add("other", total - sum(stages.seconds.values()))
        runs.append({"total": total, **stages.seconds})
    return {"imports_in_process": imports, "cold": runs[0], "warm": runs[1:],
            "mlflow_imported": "mlflow" in sys.modules}


def validation_cost(n_jobs: int, repeats: int) -> dict[str, float]:
    """Seconds per job to check a sweep before anything runs, as the sweep callback does:
    `n_jobs` jobs over lr and seed (one choice of config groups), and over three optimizers."""
    from hydra import initialize_config_dir

    from nnexp.config import register_configs
    from nnexp.config.preflight import _CACHE, validate_jobs

    register_configs()
    sweeps = {
        "lr x seed": [[f"lr={0.001 * (i + 1)}", f"seed={i % 5}"] for i in range(n_jobs)],
        "lr x optimizer x width": [
            [f"lr={0.001 * (i + 1)}", ("optimizer=sgd", "optimizer=adam", "optimizer=momentum")[
                i % 3], f"model.hidden=[{8 + i}]"] for i in range(n_jobs)]}
    found = {}
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        validate_jobs("config", [], sweeps["lr x seed"][:2])  # warm: imports, grammar caches
        for name, jobs in sweeps.items():
            times = []
            for _ in range(repeats):
                _CACHE.clear()
                started = time.perf_counter()
                validate_jobs("config", [], jobs)
                times.append((time.perf_counter() - started) / len(jobs))
            found[name] = median(times)
    return found


def time_process(code: str, env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - started


def import_costs(env: dict[str, str], cwd: str, repeats: int) -> dict[str, float]:
    """Medians over fresh processes: interpreter alone, each heavy import, `nnexp.train`."""
    codes = {"python -c pass": "pass", "import numpy": "import numpy",
             "import hydra": "import hydra", "import sklearn": "import sklearn",
             "import mlflow": "import mlflow",
             "import matplotlib.pyplot": "import matplotlib.pyplot",
             "import nnexp.train": "import nnexp.train"}
    times: dict[str, list[float]] = {k: [] for k in codes}
    for _ in range(repeats):  # interleaved, so drift hits every entry alike
        for name, code in codes.items():
            times[name].append(time_process(code, env, cwd))
    return {k: median(v) for k, v in times.items()}


# ----------------------------------------------------------------------------------- reporting

def fmt(seconds: float) -> str:
    return f"{seconds:6.2f} s"


def part1(workdir: Path, repeats: int, warm_runs: int, import_repeats: int
          ) -> dict[str, Any]:
    env = clean_env(None)
    uri = f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"
    print("== Part 1: fixed cost per job ==", flush=True)
    print(f"fresh-process imports (median of {import_repeats}):")
    imports = import_costs(env, str(workdir), import_repeats)
    for name, seconds in imports.items():
        print(f"  {name:<26}{fmt(seconds)}")

    # The stage breakdown runs first, in its own fresh process: it also creates the store, so
    # the sweeps below measure an existing store (the usual case), and it times the creation.
    out = subprocess.run([sys.executable, __file__, "--_stages", str(workdir), str(warm_runs)],
                         cwd=workdir, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"stage breakdown failed:\n{out.stderr[-3000:]}")
    stages = json.loads(out.stdout.strip().splitlines()[-1])
    warm = {k: median([r.get(k, 0.0) for r in stages["warm"]])
            for k in ("total", *STAGE_ORDER)}
    print(f"\nin-process run_experiment, train.epochs=1 (cold = first run in a fresh process on a "
          f"fresh store; warm = median of {warm_runs} later runs, as jobs 2..8 of a basic sweep):")
    print(f"  {'stage':<22}{'cold':>9}{'warm':>9}")
    for name in STAGE_ORDER:
        print(f"  {name:<22}{fmt(stages['cold'].get(name, 0.0))}{fmt(warm.get(name, 0.0))}")
    print(f"  {'total':<22}{fmt(stages['cold']['total'])}{fmt(warm['total'])}")
    print(f"  (imports of nnexp.train in that process: {stages['imports_in_process']:.2f} s, "
          "not included above)")
    in_process = warm["total"] - warm["training loop"]
    verdict = "met" if in_process <= IN_PROCESS_TARGET_S else "missed"
    print(f"  warm job's cost besides training {in_process:.3f} s  [target <= "
          f"{IN_PROCESS_TARGET_S} s: {verdict}]")
    validation = validation_cost(100, repeats)
    for name, seconds in validation.items():
        verdict = "met" if seconds <= VALIDATION_TARGET_S else "missed"
        print(f"  validating a 100-job sweep ({name}): {seconds * 1000:.1f} ms a job  [target "
              f"<= {VALIDATION_TARGET_S * 1000:.0f} ms: {verdict}]")

    sweeps = []
    for i in range(repeats):
        sweep = run_sweep(workdir, f"overhead{i}",
                          ["lr=" + ",".join(LRS), "train.epochs=1"], env)
        sweeps.append(read_sweep(uri, sweep))
    cmd = sweeps[0]["command"]
    print(f"\n8-job sweep: {cmd}  (median of {repeats}; training time from "
          f"{sweeps[0]['train_source']})")
    rows = {
        "sweep wall time": "wall",
        "sum of training times": "sum_train",
        "launch -> parent run created": "to_parent",
        "parent created -> 1st child": "parent_to_first",
        "summary (last child end -> parent end)": "summary",
        "after parent end -> exit": "after_parent",
    }
    figures = {key: median([s[key] for s in sweeps]) for key in rows.values()}
    for label, key in rows.items():
        print(f"  {label:<40}{fmt(figures[key])}")
    run_s = median([median(s["run_s"]) for s in sweeps])
    first_run_s = median([s["run_s"][0] for s in sweeps])
    gap = median([median(s["gaps"]) for s in sweeps])
    train = median([median(s["train_s"]) for s in sweeps])
    print(f"  {'child run duration (median; 1st child)':<40}{fmt(run_s)}  ({first_run_s:.2f} s)")
    print(f"  {'  of which training (median)':<40}{fmt(train)}")
    print(f"  {'gap between children (median)':<40}{fmt(gap)}  (Hydra job setup, data, "
          "provenance)")
    fixed = median([s["fixed_per_job"] for s in sweeps])
    steady = run_s + gap - train
    verdict = "OK" if fixed <= JOB_BUDGET_S else "OVER BUDGET"
    print(f"  per-job fixed cost (wall - sum train) / 8 {fmt(fixed)}  "
          f"[budget {JOB_BUDGET_S:.1f} s: {verdict}]")
    print(f"  steady-state per-job cost (run + gap - train) {steady:.2f} s; the rest, "
          f"{fixed - steady:.2f} s/job, is start-up, parent run and summary spread over 8 jobs")
    return {"per_job_fixed_cost_s": round(fixed, 3),
            "per_job_steady_cost_s": round(steady, 3),
            "sweep8_wall_s": round(figures["wall"], 3),
            "sweep8_sum_train_s": round(figures["sum_train"], 3),
            "train_time_source": sweeps[0]["train_source"],
            "sweep_startup_to_parent_s": round(figures["to_parent"], 3),
            "sweep_summary_s": round(figures["summary"], 3),
            "child_run_s": round(run_s, 3), "gap_between_children_s": round(gap, 3),
            "import_nnexp_train_s": round(imports["import nnexp.train"], 3),
            "python_start_s": round(imports["python -c pass"], 3),
            "import_s": {k: round(v, 3) for k, v in imports.items()},
            "stages_cold_s": {k: round(v, 3) for k, v in stages["cold"].items()},
            "stages_warm_s": {k: round(v, 3) for k, v in warm.items()},
            "fixed_cost_budget_ok": fixed <= JOB_BUDGET_S,
            "in_process_job_cost_s": round(in_process, 4),
            "validation_s_per_job": {k: round(v, 5) for k, v in validation.items()}}


def part2(workdir: Path, repeats: int, epochs: int, thread_modes: list[int | None],
          n_jobs: int) -> dict[str, Any]:
    uri = f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"
    lrs = CPU_LRS[:n_jobs]
    job = ["lr=" + ",".join(lrs), "data=digits", "model.hidden=[256,256]",
           f"train.epochs={epochs}"]
    modes = {"sequential": [], "joblib2": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}
    print(f"\n== Part 2: {len(lrs)} CPU-bound jobs, basic launcher vs joblib n_jobs=2 "
          f"(median of {repeats}) ==", flush=True)
    results: dict[str, Any] = {}
    for threads in thread_modes:
        tname = "1" if threads == 1 else "default"
        env = clean_env(threads)
        walls: dict[str, list[float]] = {m: [] for m in modes}
        trains: dict[str, list[float]] = {m: [] for m in modes}
        commands = {}
        for i in range(repeats):
            for mode, extra in modes.items():  # alternate, so drift hits both modes alike
                sweep = run_sweep(workdir, f"cpu_{tname}_{mode}_{i}", [*extra, *job], env)
                info = read_sweep(uri, sweep)
                walls[mode].append(info["wall"])
                trains[mode].append(info["sum_train"])
                commands[mode] = info["command"]
        seq, par = median(walls["sequential"]), median(walls["joblib2"])
        speedup = seq / par
        prefix = "OPENBLAS_NUM_THREADS=1" if threads == 1 else "(OPENBLAS_NUM_THREADS unset)"
        print(f"OPENBLAS_NUM_THREADS={tname}:")
        for mode in modes:
            print(f"  {prefix} {commands[mode]}")
            print(f"    wall {fmt(median(walls[mode]))}   sum of training "
                  f"{fmt(median(trains[mode]))}   ({len(lrs)} jobs)")
        verdict = "OK" if speedup >= SPEEDUP_TARGET else "BELOW TARGET"
        print(f"  joblib speed-up {speedup:.2f}x  [target {SPEEDUP_TARGET}x: {verdict}]")
        results[tname] = {"jobs": len(lrs), "sequential_wall_s": round(seq, 3),
                          "joblib2_wall_s": round(par, 3),
                          "speedup": round(speedup, 3),
                          "sequential_sum_train_s": round(median(trains["sequential"]), 3),
                          "joblib2_sum_train_s": round(median(trains["joblib2"]), 3)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, shorter jobs (~2 min)")
    parser.add_argument("--repeats", type=int, help="sweeps per mode (default 3, quick 1)")
    parser.add_argument("--cpu-epochs", type=int,
                        help="epochs of the Part 2 jobs (default 800, ~8 s each; quick 150)")
    parser.add_argument("--default-threads", action="store_true",
                        help="Part 2 also with OPENBLAS_NUM_THREADS unset (slow on a busy box)")
    parser.add_argument("--skip-part2", action="store_true")
    parser.add_argument("--cpu-jobs", type=int, default=8, choices=range(2, len(CPU_LRS) + 1),
                        metavar="N", help=f"jobs in the CPU-bound sweep (2..{len(CPU_LRS)})")
    parser.add_argument("--_stages", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._stages:
        print(json.dumps(stage_breakdown(args._stages[0], int(args._stages[1]))))
        return
    repeats = args.repeats or (1 if args.quick else 3)
    epochs = args.cpu_epochs or (150 if args.quick else 800)
    threads: list[int | None] = [1, None] if args.default_threads else [1]
    with tempfile.TemporaryDirectory(prefix="nnexp-sweep-bench-") as tmp:
        workdir = Path(tmp)
        summary = part1(workdir, repeats, warm_runs=2 if args.quick else 4,
                        import_repeats=1 if args.quick else 3)
        if not args.skip_part2:
            p2 = part2(workdir, 1 if args.quick else max(1, repeats - 1), epochs, threads,
                       4 if args.quick else args.cpu_jobs)
            summary["joblib_speedup"] = p2["1"]["speedup"]
            summary["joblib_speedup_ok"] = p2["1"]["speedup"] >= SPEEDUP_TARGET
            summary["cpu_jobs"] = {"epochs": epochs, "by_blas_threads": p2}
    summary["quick"] = args.quick
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
