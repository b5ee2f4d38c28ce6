"""What diagnosing a run costs training: weight hashes in the step, probes once an epoch, and the
verdict at the end, each against the same work without it, measured in the same process.

1. Weight hashes (`tracking.hash_every_n_steps`): epochs of `train_loop` with hashes every 10
   steps (the default) and every step, paired with epochs without hashes (off, 10, 1, off, ...).
   Also one hash on its own (a CRC-32 per layer) against one training step.
2. Probes, once an epoch: the update/weight ratios (a copy of the parameters at the start of the
   epoch, three norms at the end) and the validation pass that also counts dead ReLU units,
   against the plain validation pass and the epoch's training.
3. The verdict: `diagnose` on the history of a 1500-epoch digits run logged every step.

Two networks: digits-sized (64-64-10, batch 32, 1078 rows: per-step overhead dominates) and the
reference 784-256-128-10 (batch 128, 12 800 synthetic rows). Medians of `--repeats` rounds.

    python benchmarks/diagnostics_overhead.py [--repeats 15]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from nnexp import engine
from nnexp.experiment.history import MetricHistory
from nnexp.experiment.loop import LoopSettings, evaluate, train_loop
from nnexp.experiment.probes import EpochMovement
from nnexp.experiment.verdict import diagnose, history_of
from nnexp.experiment.weight_hashes import WeightHashes

NETWORKS = {
    "digits 64-64-10": {"n_in": 64, "hidden": [64], "n_out": 10, "rows": 1078, "val": 360,
                        "batch": 32},
    "reference 784-256-128-10": {"n_in": 784, "hidden": [256, 128], "n_out": 10, "rows": 12800,
                                 "val": 2000, "batch": 128},
}


def _setup(spec: dict[str, Any]) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(spec["rows"] + spec["val"], spec["n_in"])).astype(np.float32)
    y = rng.integers(0, spec["n_out"], size=X.shape[0])
    model = engine.build_mlp(spec["n_in"], spec["hidden"], spec["n_out"], rng=rng)
    return {"model": model, "optimizer": engine.make_optimizer("adam", model, 1e-3),
            "loss": engine.make_loss("cross_entropy"), "rng": np.random.default_rng(1),
            "data": (X[:spec["rows"]], y[:spec["rows"]], X[spec["rows"]:], y[spec["rows"]:]),
            "batch": spec["batch"]}


def _epoch(state: dict[str, Any], hash_every: int) -> float:
    """One epoch of the product's loop (probes included); hashes every `hash_every` steps."""
    hashes = WeightHashes(state["model"], hash_every) if hash_every else None
    started = time.perf_counter()
    train_loop(state["model"], state["loss"], state["optimizer"], lambda t: 1e-3, state["data"],
               LoopSettings(epochs=1, batch_size=state["batch"]), state["rng"], MetricHistory(),
               classify=True, weight_hashes=hashes)
    return time.perf_counter() - started


def _median_time(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def hashes(spec: dict[str, Any], repeats: int) -> dict[str, float]:
    variants = {"off": 0, "every 10": 10, "every 1": 1}
    states = {name: _setup(spec) for name in variants}
    for name, every in variants.items():  # warm-up
        _epoch(states[name], every)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, every in variants.items():
            times[name].append(_epoch(states[name], every))
    medians = {name: statistics.median(t) for name, t in times.items()}
    model = states["off"]["model"]
    parts = [(p[f"{n}.weight"], p[f"{n}.bias"]) for p in [model.named_parameters()]
             for n in model.layer_names]
    one_hash = _median_time(lambda: [zlib.crc32(b, zlib.crc32(w)) for w, b in parts],
                            200) * 1e6
    steps = -(-spec["rows"] // spec["batch"])
    return {"epoch_off_ms": medians["off"] * 1e3,
            "ratio_every_10": medians["every 10"] / medians["off"],
            "ratio_every_1": medians["every 1"] / medians["off"],
            "hash_us": one_hash, "step_us": medians["off"] / steps * 1e6,
            "bytes": int(model.params.nbytes)}


def probes(spec: dict[str, Any], repeats: int) -> dict[str, float]:
    state = _setup(spec)
    model, loss_fn, (X, y, X_val, y_val) = state["model"], state["loss"], state["data"]
    movement = EpochMovement(model)

    def ratios() -> None:
        movement.begin()
        movement.ratios()

    plain = _median_time(lambda: evaluate(model, loss_fn, X_val, y_val, True), repeats * 4)
    counting = _median_time(lambda: evaluate(model, loss_fn, X_val, y_val, True,
                                             dead_units={}), repeats * 4)
    ratio_cost = _median_time(ratios, repeats * 4)
    epoch = _median_time(lambda: engine.train_epoch(
        model, loss_fn, state["optimizer"], X, y, batch_size=state["batch"], rng=state["rng"]),
        repeats)
    return {"validation_ms": plain * 1e3, "dead_units_extra_ms": (counting - plain) * 1e3,
            "update_ratios_ms": ratio_cost * 1e3, "train_epoch_ms": epoch * 1e3,
            "share_of_epoch": (counting - plain + ratio_cost) / epoch}


def verdict(repeats: int) -> dict[str, float]:
    """`history_of` + `diagnose` on a 1500-epoch, 34-steps-an-epoch history logged every step."""
    history, rng = MetricHistory(), np.random.default_rng(0)
    layers = ("layer1", "layer2")
    step_keys = ("train/loss_step", "lr", *(f"grad_norm/{n}" for n in layers))
    record = history.recorder(step_keys)
    for epoch in range(1, 1501):
        for step in range((epoch - 1) * 34, epoch * 34):
            record(step, tuple(rng.random(len(step_keys)).tolist()))
        history.add_many({"train/loss": 1 / epoch, "val/loss": 1 / epoch,
                          **{f"weight_norm/{n}": 5.0 for n in layers},
                          **{f"update_ratio/{n}": 0.01 for n in layers},
                          "dead_units/layer1": 0.0, "epoch": epoch}, epoch * 34)
    seconds = _median_time(lambda: diagnose(history_of(history)), repeats)
    return {"diagnose_ms": seconds * 1e3, "rows": 1500 * 34}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    for name, spec in NETWORKS.items():
        h = hashes(spec, args.repeats)
        p = probes(spec, args.repeats)
        figures[name] = {"hashes": h, "probes": p}
        print(f"{name}: epoch {h['epoch_off_ms']:.1f} ms ({h['step_us']:.0f} us a step, "
              f"{h['bytes'] / 1e6:.2f} MB of parameters)")
        print(f"  weight hashes every 10 steps: x{h['ratio_every_10']:.3f} the epoch; every "
              f"step: x{h['ratio_every_1']:.3f}; one hash {h['hash_us']:.1f} us")
        print(f"  probes an epoch: update ratios {p['update_ratios_ms']:.3f} ms, dead units "
              f"+{p['dead_units_extra_ms']:.3f} ms on a {p['validation_ms']:.2f} ms validation "
              f"pass; {p['share_of_epoch']:.2%} of the epoch's training "
              f"({p['train_epoch_ms']:.1f} ms)")
    figures["verdict"] = verdict(max(3, args.repeats // 3))
    print(f"verdict on {figures['verdict']['rows']} logged steps: "
          f"{figures['verdict']['diagnose_ms']:.1f} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
