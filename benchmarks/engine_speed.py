"""Training-speed benchmark: nnexp's numpy engine vs scikit-learn MLPClassifier vs PyTorch CPU.

Workload: MLP 784-256-128-10, ReLU, batch 128, Adam lr 1e-3, on ``make_classification``
data (60 000 x 784, 10 classes). The machines are shared and drift, so the implementations
run in *paired* rounds: each round trains one epoch of each implementation in turn, in this
one process; after ``--warmup`` rounds the median epoch time of each is reported, and the
ratios are medians of the per-round ratios.

scikit-learn: ``MLPClassifier(solver="adam", batch_size=128, learning_rate_init=1e-3,
alpha=0.0, max_iter=epochs, tol=0, n_iter_no_change=10**9, early_stopping=False)`` timed one
epoch at a time with ``partial_fit`` — each call is exactly one shuffled pass over the data and
keeps the Adam state (``fit`` with ``warm_start`` would rebuild the optimizer every call).
``alpha=0`` because nnexp's Adam here has no L2 penalty either.

PyTorch: ``torch.set_num_threads`` = numpy's BLAS thread count (threadpoolctl), and
``torch.optim.Adam(fused=True)`` when available.

The floor: each round also times, on a separate copy of the model, the work no numpy engine
can skip — the eight matmuls of a step (forward, and backward without the input gradient) and
one Adam update — which bounds what any numpy engine can reach on this machine today.

Usage::

    python benchmarks/engine_speed.py [--dtype float32|float64] [--quick]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nnexp.engine import Adam, build_mlp, fit, make_loss  # noqa: E402

HIDDEN = [256, 128]
BATCH = 128
LR = 1e-3


def blas_info() -> tuple[int, str]:
    """(threads, description) of numpy's BLAS as seen by threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1, "threadpoolctl not installed"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    pools.sort(key=lambda p: "numpy" not in p.get("filepath", ""))  # numpy's own BLAS first
    for pool in pools:
        if pool.get("user_api") == "blas":
            return int(pool["num_threads"]), (
                f"{pool.get('internal_api')} {pool.get('version')} "
                f"core={pool.get('architecture')} threads={pool['num_threads']}"
            )
    return os.cpu_count() or 1, "no BLAS pool found"


class NnexpRunner:
    name = "nnexp"

    def __init__(self, X: np.ndarray, y: np.ndarray, dtype: str) -> None:
        self.rng = np.random.default_rng(0)
        self.model = build_mlp(X.shape[1], HIDDEN, 10, dtype=dtype, rng=self.rng)
        self.opt = Adam(self.model, lr=LR)
        self.loss = make_loss("cross_entropy")
        self.X, self.y = X, y

    def epoch(self) -> float:
        return fit(
            self.model,
            self.loss,
            self.opt,
            self.X,
            self.y,
            epochs=1,
            batch_size=BATCH,
            rng=self.rng,
        )[0]


class StepFloor:
    """Median µs of a step's eight matmuls and of one Adam update, on a copy of the model."""

    def __init__(self, X: np.ndarray, dtype: str) -> None:
        rng = np.random.default_rng(1)
        self.model = build_mlp(X.shape[1], HIDDEN, 10, dtype=dtype, rng=rng)
        self.opt = Adam(self.model, lr=LR)
        self.x = np.ascontiguousarray(X[:BATCH])
        widths = [X.shape[1], *HIDDEN, 10]
        self.z = [np.ones((BATCH, w), dtype=dtype) for w in widths[1:]]

    def _matmuls(self) -> None:
        dense = self.model._dense
        inputs = [self.x, *self.z[:-1]]
        for layer, x, z in zip(dense, inputs, self.z, strict=True):  # forward
            np.matmul(x, layer.weight, out=z)
        for i in range(len(dense) - 1, -1, -1):  # backward: dW = Xᵀ G, dX = G Wᵀ
            np.matmul(inputs[i].T, self.z[i], out=dense[i].grad_weight)
            if i:
                np.matmul(self.z[i], dense[i].weight.T, out=self.z[i - 1])

    @staticmethod
    def _median_us(fn, repeats: int = 200) -> float:
        for _ in range(20):
            fn()
        samples = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(repeats):
                fn()
            samples.append((time.perf_counter() - t0) / repeats * 1e6)
        return statistics.median(samples)

    def measure(self) -> tuple[float, float]:
        """(matmul µs, Adam µs) per step."""
        return self._median_us(self._matmuls), self._median_us(self.opt.step)


class SklearnRunner:
    name = "sklearn"

    def __init__(self, X: np.ndarray, y: np.ndarray, dtype: str, epochs: int) -> None:
        from sklearn.neural_network import MLPClassifier

        self.clf = MLPClassifier(
            hidden_layer_sizes=tuple(HIDDEN),
            activation="relu",
            solver="adam",
            batch_size=BATCH,
            learning_rate_init=LR,
            alpha=0.0,
            max_iter=epochs,
            tol=0.0,
            n_iter_no_change=10**9,
            early_stopping=False,
            shuffle=True,
            random_state=0,
        )
        self.X, self.y = X, y
        self.classes = np.unique(y)

    def epoch(self) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.clf.partial_fit(self.X, self.y, classes=self.classes)
        return float(self.clf.loss_)


class TorchRunner:
    name = "torch"

    def __init__(self, X: np.ndarray, y: np.ndarray, dtype: str, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.torch = torch
        tdtype = torch.float32 if dtype == "float32" else torch.float64
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y.astype(np.int64))
        self.model = torch.nn.Sequential(
            torch.nn.Linear(X.shape[1], HIDDEN[0]),
            torch.nn.ReLU(),
            torch.nn.Linear(HIDDEN[0], HIDDEN[1]),
            torch.nn.ReLU(),
            torch.nn.Linear(HIDDEN[1], 10),
        ).to(tdtype)
        try:
            self.opt = torch.optim.Adam(self.model.parameters(), lr=LR, fused=True)
            self.fused = True
        except (RuntimeError, TypeError, ValueError):
            self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
            self.fused = False
        self.loss = torch.nn.CrossEntropyLoss()
        self.gen = torch.Generator().manual_seed(0)

    def epoch(self) -> float:
        torch = self.torch
        n = self.X.shape[0]
        perm = torch.randperm(n, generator=self.gen)
        total = 0.0
        for start in range(0, n, BATCH):
            idx = perm[start : start + BATCH]
            xb, yb = self.X[idx], self.y[idx]
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.model(xb), yb)
            loss.backward()
            self.opt.step()
            total += loss.item() * idx.shape[0]
        return total / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--quick", action="store_true", help="15 000 samples, 1+3 rounds")
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (after warm-up)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds of rest before each timed epoch, so the thread pools of "
                             "the previous implementation (OpenMP, a second OpenBLAS) stop "
                             "spinning; 0 to disable")
    args = parser.parse_args()
    n_samples = args.samples or (15_000 if args.quick else 60_000)
    rounds = args.rounds or (3 if args.quick else 5)

    threads, blas = blas_info()  # before sklearn/torch load their own BLAS/OpenMP pools
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n_samples,
        n_features=784,
        n_informative=64,
        n_redundant=32,
        n_classes=10,
        random_state=0,
    )
    X = np.ascontiguousarray(X, dtype=args.dtype)
    print(
        f"data {X.shape} {X.dtype}; BLAS {blas}; "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}"
    )

    runners: list = [
        NnexpRunner(X, y, args.dtype),
        SklearnRunner(X, y, args.dtype, args.warmup + rounds),
    ]
    torch_note = "not run"
    if not args.no_torch:
        try:
            runners.append(TorchRunner(X, y, args.dtype, threads))
            torch_note = f"threads={threads} fused_adam={runners[-1].fused}"
        except ImportError:
            torch_note = "not importable"
    print(f"torch: {torch_note}")

    floor = StepFloor(X, args.dtype)
    floor_us: list[tuple[float, float]] = []
    times: dict[str, list[float]] = {r.name: [] for r in runners}
    for rnd in range(args.warmup + rounds):
        line = []
        for r in runners:
            time.sleep(args.pause)
            t0 = time.perf_counter()
            loss = r.epoch()
            dt = time.perf_counter() - t0
            if rnd >= args.warmup:
                times[r.name].append(dt)
            line.append(f"{r.name} {n_samples / dt / 1e3:6.1f}k/s (loss {loss:.3f})")
        time.sleep(args.pause)
        matmul_us, adam_us = floor.measure()
        if rnd >= args.warmup:
            floor_us.append((matmul_us, adam_us))
        tag = "warm-up" if rnd < args.warmup else f"round {rnd - args.warmup + 1}"
        print(f"{tag:>8}: " + " | ".join(line) + f" | floor {matmul_us:.0f}+{adam_us:.0f} µs")

    sps = {k: n_samples / statistics.median(v) for k, v in times.items()}

    def paired_ratio(other: str) -> float | None:
        if other not in times:
            return None
        return statistics.median(o / s for s, o in zip(times["nnexp"], times[other], strict=True))

    for k, v in sps.items():
        print(f"{k:>8}: median {v:,.0f} samples/s")
    r_sk, r_torch = paired_ratio("sklearn"), paired_ratio("torch")
    print(
        f"nnexp / sklearn = {r_sk:.2f}x" + (f", nnexp / torch = {r_torch:.2f}x" if r_torch else "")
    )
    steps_per_epoch = -(-n_samples // BATCH)
    step_us = 1e6 * statistics.median(times["nnexp"]) / steps_per_epoch
    matmul_us = statistics.median(m for m, _ in floor_us)
    adam_us = statistics.median(a for _, a in floor_us)
    ceiling = BATCH / ((matmul_us + adam_us) * 1e-6)
    print(
        f"   floor: matmuls {matmul_us:.0f} µs + Adam {adam_us:.0f} µs a step -> no numpy "
        f"engine beats {ceiling:,.0f} samples/s here = {ceiling / sps['sklearn']:.2f}x sklearn; "
        f"nnexp's step {step_us:.0f} µs (gather, activations, loss, Python: "
        f"{step_us - matmul_us - adam_us:.0f} µs)"
    )
    print(
        json.dumps(
            {
                "nnexp_samples_per_s": round(sps["nnexp"], 1),
                "sklearn_samples_per_s": round(sps["sklearn"], 1),
                "torch_samples_per_s": round(sps["torch"], 1) if "torch" in sps else None,
                "ratio_vs_sklearn": round(r_sk, 3),
                "ratio_vs_torch": round(r_torch, 3) if r_torch else None,
                "dtype": args.dtype,
                "step_us": round(step_us, 1),
                "floor_matmul_us": round(matmul_us, 1),
                "floor_adam_us": round(adam_us, 1),
                "ceiling_ratio_vs_sklearn": round(ceiling / sps["sklearn"], 3),
                "n_samples": n_samples,
                "rounds": rounds,
                "blas": blas,
                "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
            }
        )
    )


if __name__ == "__main__":
    main()
