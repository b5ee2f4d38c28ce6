"""What `sweep.prune=median` saves on a 16-child learning-rate sweep, and whether it still finds
the same best child (issue 16).

The same sweep, ``python -m nnexp.train -m lr=<16 values> train.epochs=30`` on digits (basic
launcher), runs as a subprocess in a fresh folder with its own store, with and without
``sweep.prune=median`` (nnexp's defaults after Optuna's MedianPruner: 5 warm-up epochs, 5 finished
siblings before any pruning). Modes alternate; medians are quoted. Two workloads:

- ``default``: the default MLP (one hidden layer of 64, Adam): a child trains in well under a
  second, so a job's fixed cost (process, run records, model, plots) dominates the sweep;
- ``wide``: ``model.hidden=[512,512]``: training weighs as much as the rest, or more, as in
  the sweeps pruning is for.

Both run with ``OPENBLAS_NUM_THREADS=1`` (two BLAS threads on a shared 2-core machine only
contend). The 16 rates are log-spaced from 1e-5 to 1; the order the basic launcher runs them in
matters to a median rule (the first children finish unpruned and set the median), so it is
shuffled with a fixed seed (``--order ascending`` runs them smallest first).

Reported per workload and mode: sweep wall time and CPU time (the sweep process and what it
waited for; less sensitive than wall time to other work on a shared machine), the children's
training time (their `nnexp.train_seconds`), epochs trained by all children (their
`nnexp.epochs_run`), children pruned, the best child's learning rate (the parent's
`nnexp.best_run_name`) and its objective, and what pruning cost (the children's
`nnexp.prune.cost` tags: decisions, store queries and their seconds). First, in process and
quieter: what one decision costs, with a search of 15 finished siblings and between searches.
The last line is one JSON object with the figures.

    python benchmarks/pruning_saving.py                      # both workloads, 3 repeats
    python benchmarks/pruning_saving.py --workloads default --repeats 1 --order ascending
    python benchmarks/pruning_saving.py --workloads wide --rule asha   # successive halving
    python benchmarks/pruning_saving.py --workloads ""       # the decision's cost only
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = {"default": [], "wide": ["model.hidden=[512,512]"]}
COST_RE = re.compile(r"(\d+) checks, (\d+) store queries, ([0-9.]+) s")


def learning_rates(order: str) -> list[str]:
    rates = [f"{v:.3g}" for v in np.geomspace(1e-5, 1.0, 16)]
    if order == "shuffled":
        rates = [rates[i] for i in np.random.default_rng(0).permutation(len(rates))]
    return rates


def run_sweep(workdir: Path, rates: list[str], prune: str | None, epochs: int, extra: list[str]
              ) -> dict[str, Any]:
    """One sweep as a subprocess in `workdir`; its wall time and what its store holds."""
    overrides = [f"lr={','.join(rates)}", f"train.epochs={epochs}", *extra]
    if prune:
        overrides.append(f"sweep.prune={prune}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "NNEXP_"))}
    env["OPENBLAS_NUM_THREADS"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nnexp.train", "-m", *overrides], cwd=workdir,
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"sweep failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, **read_store(workdir / "mlruns" / "mlflow.db")}


def read_store(db: Path) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("nnexp")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parent = next(r for r in runs if r.data.tags.get("nnexp.sweep") == "parent")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    costs = [COST_RE.match(c.data.tags.get("nnexp.prune.cost", "")) for c in children]
    costs = [m for m in costs if m]
    checks = sum(int(m.group(1)) for m in costs)
    seconds = sum(float(m.group(3)) for m in costs)
    best_name = parent.data.tags.get("nnexp.best_run_name", "")
    return {
        "children": len(children),
        "train_s": sum(float(c.data.tags.get("nnexp.train_seconds", "0") or 0)
                       for c in children),
        "epochs_trained": sum(int(c.data.tags.get("nnexp.epochs_run", "0") or 0)
                              for c in children),
        "pruned": sorted(c.data.params["lr"] for c in children if "nnexp.pruned" in c.data.tags),
        "failed": sum(c.info.status == "FAILED" for c in children),
        "best_lr": best_name.partition("lr=")[2],
        "best_objective": float(parent.data.tags.get("nnexp.best_objective", "nan")),
        "prune_checks": checks,
        "prune_queries": sum(int(m.group(2)) for m in costs),
        "prune_seconds": seconds,
        "prune_ms_per_check": 1000 * seconds / checks if checks else None,
        "prune_ms_per_query": 1000 * seconds / queries if (queries := sum(
            int(m.group(2)) for m in costs)) else None,
    }


def measure(workload: str, rates: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Both modes of one workload, alternating; the figures of its summary."""
    print(f"workload {workload} ({' '.join(WORKLOADS[workload]) or 'the default config'}):")
    results: dict[str, list[dict[str, Any]]] = {"full": [], args.rule: []}
    for repeat in range(args.repeats):
        modes = ["full", args.rule] if repeat % 2 == 0 else [args.rule, "full"]
        for mode in modes:
            with tempfile.TemporaryDirectory(prefix="nnexp-prune-bench-") as tmp:
                found = run_sweep(Path(tmp), rates, None if mode == "full" else mode, args.epochs,
                                  WORKLOADS[workload])
            results[mode].append(found)
            print(f"  repeat {repeat + 1} {mode:>6}: {found['wall_s']:6.1f} s wall, "
                  f"{found['cpu_s']:6.1f} s CPU, {found['train_s']:6.1f} s training, "
                  f"{found['epochs_trained']} epochs, {len(found['pruned'])} pruned, "
                  f"best lr {found['best_lr']} ({found['best_objective']:.4f})", flush=True)
    full, pruned = results["full"], results[args.rule]
    wall_full = statistics.median(r["wall_s"] for r in full)
    wall_pruned = statistics.median(r["wall_s"] for r in pruned)
    cpu_full = statistics.median(r["cpu_s"] for r in full)
    cpu_pruned = statistics.median(r["cpu_s"] for r in pruned)
    best = {r["best_lr"] for r in full} | {r["best_lr"] for r in pruned}
    per_check = [r["prune_ms_per_check"] for r in pruned if r["prune_ms_per_check"]]
    per_query = [r["prune_ms_per_query"] for r in pruned if r["prune_ms_per_query"]]
    summary = {
        "workload": workload, "overrides": WORKLOADS[workload],
        "wall_s_full_median": round(wall_full, 2), "wall_s_pruned_median": round(wall_pruned, 2),
        "wall_ratio_pruned_over_full": round(wall_pruned / wall_full, 3),
        "cpu_s_full_median": round(cpu_full, 2), "cpu_s_pruned_median": round(cpu_pruned, 2),
        "cpu_ratio_pruned_over_full": round(cpu_pruned / cpu_full, 3),
        "train_s_full_median": round(statistics.median(r["train_s"] for r in full), 2),
        "train_s_pruned_median": round(statistics.median(r["train_s"] for r in pruned), 2),
        "epochs_trained_full": statistics.median(r["epochs_trained"] for r in full),
        "epochs_trained_pruned": statistics.median(r["epochs_trained"] for r in pruned),
        "pruned_children": [r["pruned"] for r in pruned],
        "best_lr_full": [r["best_lr"] for r in full],
        "best_lr_pruned": [r["best_lr"] for r in pruned],
        "same_best_child": len(best) == 1,
        "prune_checks_per_sweep": statistics.median(r["prune_checks"] for r in pruned),
        "prune_queries_per_sweep": statistics.median(r["prune_queries"] for r in pruned),
        "prune_seconds_per_sweep": round(statistics.median(r["prune_seconds"] for r in pruned),
                                         4),
        "prune_ms_per_check_median": round(statistics.median(per_check), 3) if per_check
        else None,
        "prune_ms_per_query_median": round(statistics.median(per_query), 2) if per_query
        else None,
    }
    print(f"  wall time: {wall_full:.1f} s without pruning, {wall_pruned:.1f} s with "
          f"sweep.prune={args.rule} (x{summary['wall_ratio_pruned_over_full']}); CPU "
          f"{cpu_full:.1f} s -> {cpu_pruned:.1f} s (x{summary['cpu_ratio_pruned_over_full']}); "
          f"children's training {summary['train_s_full_median']} s -> "
          f"{summary['train_s_pruned_median']} s (medians of {args.repeats})")
    print(f"  epochs trained: {summary['epochs_trained_full']} -> "
          f"{summary['epochs_trained_pruned']}; pruned per sweep: "
          f"{[len(p) for p in summary['pruned_children']]}")
    print(f"  best child: {summary['best_lr_full']} without, {summary['best_lr_pruned']} with "
          f"pruning: {'same' if summary['same_best_child'] else 'DIFFERENT'}")
    print(f"  pruning's own cost: {summary['prune_checks_per_sweep']} decisions and "
          f"{summary['prune_queries_per_sweep']} store queries a sweep, "
          f"{summary['prune_seconds_per_sweep']} s in all, "
          f"{summary['prune_ms_per_check_median']} ms a decision, "
          f"{summary['prune_ms_per_query_median']} ms a query (decisions between queries read "
          "the siblings kept from the last one)")
    return summary


def decision_cost(n_siblings: int = 15, rounds: int = 30) -> dict[str, float]:
    """In process, on a fresh SQLite store: the store pruner's search for `n_siblings` finished
    siblings (each with a child's 62 params, 35 tags and 25 pruning values), and a decision
    between searches (siblings kept from the last one). Medians of `rounds`."""
    from mlflow.entities import Param, RunTag
    from mlflow.tracking import MlflowClient

    from nnexp.sweeps.pruning_rules import PruneSettings
    from nnexp.sweeps.store_pruner import StorePruner

    with tempfile.TemporaryDirectory(prefix="nnexp-prune-cost-") as tmp:
        client = MlflowClient(tracking_uri=f"sqlite:///{tmp}/mlflow.db")
        experiment = client.create_experiment("cost")
        parent = client.create_run(experiment).info.run_id
        for i in range(n_siblings):
            run = client.create_run(experiment, tags={"mlflow.parentRunId": parent}).info.run_id
            client.log_batch(run, params=[Param(f"p{j}", "x" * 12) for j in range(62)],
                             tags=[RunTag(f"nnexp.t{j}", "y" * 24) for j in range(35)]
                             + [RunTag(f"nnexp.prune.value.{e}", repr(0.1 * i + 0.01 * e))
                                for e in range(6, 31)])
            client.set_terminated(run)
        settings = PruneSettings("median", "val/loss", "minimize")
        searched, cached = [], []
        for _ in range(rounds):
            pruner = StorePruner(settings, client, experiment, parent, lambda: None,
                                 lambda tags: None, earlier=[1.0] * 5)
            started = time.perf_counter()
            pruner.should_stop(6, {"val/loss": 0.5})  # the first decision searches
            searched.append(time.perf_counter() - started)
            started = time.perf_counter()
            pruner.should_stop(7, {"val/loss": 0.5})  # within refresh_seconds: kept siblings
            cached.append(time.perf_counter() - started)
    return {"siblings": n_siblings, "search_ms": round(1000 * statistics.median(searched), 2),
            "decision_between_searches_us": round(1e6 * statistics.median(cached), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--order", choices=("shuffled", "ascending"), default="shuffled")
    parser.add_argument("--rule", choices=("median", "asha"), default="median",
                        help="the sweep.prune rule compared with no pruning")
    parser.add_argument("--workloads", default="default,wide",
                        help=f"comma-separated, of {', '.join(WORKLOADS)}")
    args = parser.parse_args()
    rates = learning_rates(args.order)
    print(f"16-child lr sweep on digits, {args.epochs} epochs, order {args.order}: {rates}")
    cost = decision_cost()
    print(f"a pruning decision, in process: {cost['search_ms']} ms with a search of "
          f"{cost['siblings']} finished siblings (at most one every 5 s), "
          f"{cost['decision_between_searches_us']} us between searches")
    workloads = [measure(w, rates, args) for w in args.workloads.split(",") if w]
    print(json.dumps({"benchmark": "pruning_saving", "order": args.order, "epochs": args.epochs,
                      "repeats": args.repeats, "rates": rates, "decision_cost": cost,
                      "workloads": workloads}))


if __name__ == "__main__":
    main()
