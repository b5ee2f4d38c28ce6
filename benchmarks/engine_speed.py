"""Training-speed benchmark: nnexp's numpy engine vs scikit-learn MLPClassifier vs PyTorch CPU.

Workload: MLP 784-256-128-10, ReLU, batch 128, Adam lr 1e-3, on ``make_classification``
data (60 000 x 784, 10 classes). The machines are shared and drift, so the implementations
run in *paired* rounds: each round trains one epoch of each implementation in turn, in this
one process; after ``--warmup`` rounds the median epoch time of each is reported, and the
ratios are medians of the per-round ratios. Only quiet rounds count (every timing within 15 %
of its own best round: a neighbour's burst slows some implementations of a round and not
others); with fewer than three quiet rounds the figures use every round and the targets get
no verdict.

scikit-learn: ``MLPClassifier(solver="adam", batch_size=128, learning_rate_init=1e-3,
alpha=0.0, max_iter=epochs, tol=0, n_iter_no_change=10**9, early_stopping=False)`` timed one
epoch at a time with ``partial_fit`` — each call is exactly one shuffled pass over the data and
keeps the Adam state (``fit`` with ``warm_start`` would rebuild the optimizer every call).
``alpha=0`` because nnexp's Adam here has no L2 penalty either.

PyTorch: ``torch.set_num_threads`` = numpy's BLAS thread count (threadpoolctl), and
``torch.optim.Adam(fused=True)`` when available.

Also a reference with no engine at all: the same step written out by hand as straight-line
numpy (``InlineNumpyRunner``: same buffers, same Adam), to show what nnexp's layers cost.

The product path: ``nnexp.loop.train_loop`` exactly as ``python -m nnexp.train`` runs it, with
the real metric sink (``MetricHistory`` with no observer: it keeps the history) and per-step
logging of loss, lr and every layer's gradient norm at the default ``log_every_n_steps=10``,
its per-step divergence checks, and per-epoch validation on a BATCH-row split (so the epoch's
end costs little beside the 469 steps). It trains through the same ``engine.train_epoch`` as
``fit``, on the same model (the two take turns); the paired ratio says what the loop's hook
costs.

The floor: each round also times, on a separate copy of the model, the work no numpy engine
can skip — the eight matmuls of a step (forward, and backward without the input gradient) and
one Adam update — which bounds what any numpy engine can reach on this machine today.

Usage::

    python benchmarks/engine_speed.py [--dtype float32|float64] [--quick]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/engine_speed.py  # unpinned

Targets (issue 14), each a median of paired rounds: float32 nnexp >= 1.15x PyTorch fused Adam,
float64 >= 1.0x; nnexp's step <= 1.10x the floor; the product path within 3 % of ``fit``.
Then one instrumented epoch splits nnexp's step into its phases. The last line printed is one
JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nnexp.engine import Adam, build_mlp, fit, make_loss, make_schedule, train_step  # noqa: E402
from nnexp.engine.training import prepare_data  # noqa: E402
from nnexp.experiment.history import MetricHistory  # noqa: E402
from nnexp.experiment.loop import LoopSettings, train_loop  # noqa: E402

HIDDEN = [256, 128]
QUIET = 1.15  # a round counts when each timing is within 15 % of its best round
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


class ProductRunner:
    """``train_loop`` as a run executes it, one epoch per call, metrics kept in memory.

    It trains the very model, optimizer and generator of the ``fit`` runner (the two take
    turns), so the paired ratio compares code paths only: separate models were measured up to
    10 % apart in some processes from where their buffers happened to lie in memory.
    """

    name = "product"

    def __init__(self, fit_runner: NnexpRunner) -> None:
        self.model, self.opt, self.rng = fit_runner.model, fit_runner.opt, fit_runner.rng
        self.loss = make_loss("cross_entropy")
        self.schedule = make_schedule("constant", LR)
        self.metrics = MetricHistory()
        X, y = fit_runner.X, fit_runner.y
        self.data = (X, y, X[:BATCH], y[:BATCH])
        self.settings = LoopSettings(epochs=1, batch_size=BATCH, log_every_n_steps=10)

    def epoch(self) -> float:
        result = train_loop(self.model, self.loss, self.opt, self.schedule, self.data,
                            self.settings, self.rng, self.metrics, classify=True)
        return result.last["train/loss"]


class InlineNumpyRunner:
    """The reference step hand-inlined: no layers, no loss object, no optimizer object."""

    name = "inline"

    def __init__(self, X: np.ndarray, y: np.ndarray, dtype: str) -> None:
        self.rng = np.random.default_rng(0)
        self.model = build_mlp(X.shape[1], HIDDEN, 10, dtype=dtype, rng=self.rng)
        self.m, self.v, self.s = (np.zeros_like(self.model.params) for _ in range(3))
        self.t = 0
        self.X, self.y = X, y.astype(np.intp)
        self.samples = X.shape[0] - X.shape[0] % BATCH  # full batches only
        b, dt = BATCH, X.dtype
        self.xb, self.yb = np.empty((b, X.shape[1]), dt), np.empty(b, np.intp)
        self.h1, self.h2, self.z = (np.empty((b, w), dt) for w in (*HIDDEN, 10))
        self.g1, self.g2 = np.empty((b, HIDDEN[0]), dt), np.empty((b, HIDDEN[1]), dt)
        self.mask1, self.mask2 = np.empty((b, HIDDEN[0]), bool), np.empty((b, HIDDEN[1]), bool)
        self.zero1, self.zero2 = np.zeros((b, HIDDEN[0]), dt), np.zeros((b, HIDDEN[1]), dt)
        self.z_t, self.row_max, self.row_sum = np.empty((10, b), dt), *np.empty((2, b), dt)
        self.ones_b, self.ones_k, self.rows = np.ones(b, dt), np.ones(10, dt), np.arange(b)

    def epoch(self) -> float:
        (W1, b1, dW1, db1), (W2, b2, dW2, db2), (W3, b3, dW3, db3) = (
            (d.weight, d.bias, d.grad_weight, d.grad_bias) for d in self.model._dense
        )
        p, g, m, v, s = self.model.params, self.model.grads, self.m, self.v, self.s
        xb, yb, h1, h2, z, g1, g2 = self.xb, self.yb, self.h1, self.h2, self.z, self.g1, self.g2
        n, beta1, beta2, eps = self.X.shape[0], 0.9, 0.999, 1e-8
        order = self.rng.permutation(n)
        total = 0.0
        for start in range(0, n - BATCH + 1, BATCH):  # full batches only
            idx = order[start : start + BATCH]
            np.take(self.X, idx, axis=0, out=xb, mode="clip")
            np.take(self.y, idx, axis=0, out=yb, mode="clip")
            np.matmul(xb, W1, out=h1)
            np.add(h1, b1, out=h1)
            np.maximum(h1, self.zero1, out=h1)
            np.matmul(h1, W2, out=h2)
            np.add(h2, b2, out=h2)
            np.maximum(h2, self.zero2, out=h2)
            np.matmul(h2, W3, out=z)
            np.add(z, b3, out=z)
            np.copyto(self.z_t, z.T)
            np.maximum.reduce(self.z_t, axis=0, out=self.row_max)
            np.subtract(z, self.row_max[:, None], out=z)
            picked = z[self.rows, yb]
            np.exp(z, out=z)
            np.matmul(z, self.ones_k, out=self.row_sum)
            total += float(np.log(self.row_sum).sum() - picked.sum())
            np.divide(z, self.row_sum[:, None], out=z)
            z[self.rows, yb] -= 1
            np.multiply(z, z.dtype.type(1 / BATCH), out=z)
            np.matmul(h2.T, z, out=dW3)
            np.matmul(self.ones_b, z, out=db3)
            np.matmul(z, W3.T, out=g2)
            np.greater(h2, 0, out=self.mask2)
            np.multiply(g2, self.mask2, out=g2)
            np.matmul(h1.T, g2, out=dW2)
            np.matmul(self.ones_b, g2, out=db2)
            np.matmul(g2, W2.T, out=g1)
            np.greater(h1, 0, out=self.mask1)
            np.multiply(g1, self.mask1, out=g1)
            np.matmul(xb.T, g1, out=dW1)
            np.matmul(self.ones_b, g1, out=db1)
            self.t += 1
            c = math.sqrt((1 - beta2) / (1 - beta2**self.t))
            a = LR * (1 - beta1) / (1 - beta1**self.t) / c
            np.multiply(m, beta1, out=m)
            np.add(m, g, out=m)
            np.multiply(g, g, out=s)
            np.multiply(v, beta2, out=v)
            np.add(v, s, out=v)
            np.sqrt(v, out=s)
            np.add(s, eps / c, out=s)
            np.divide(m, s, out=s)
            np.multiply(s, a, out=s)
            np.subtract(p, s, out=p)
        return total / (n - n % BATCH)


class StepFloor:
    """The floor of issue 14: median µs of a step's eight matmuls and, separately, of one Adam
    update, on a copy of the model. Each is timed in a tight loop, so Adam finds its 4 buffers
    in cache; ``bare_step`` times what a step cannot avoid in place instead: a random batch
    gathered from the data set, the eight matmuls and the Adam update, one after another."""

    def __init__(self, X: np.ndarray, dtype: str) -> None:
        rng = np.random.default_rng(1)
        self.model = build_mlp(X.shape[1], HIDDEN, 10, dtype=dtype, rng=rng)
        self.opt = Adam(self.model, lr=LR)
        self.data = X
        self.rng = np.random.default_rng(3)
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

    def _bare_step(self) -> None:
        idx = self.rng.integers(0, self.data.shape[0], BATCH)
        np.take(self.data, idx, axis=0, out=self.x, mode="clip")
        self._matmuls()
        self.opt.step()

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

    def measure(self) -> tuple[float, float, float]:
        """(matmul µs, Adam µs, bare step µs) per step."""
        return (self._median_us(self._matmuls), self._median_us(self.opt.step),
                self._median_us(self._bare_step))


def overhead_us(dtype: str) -> float:
    """Median µs of nnexp's whole step on a 4-4-4-2 network with batch 4, where arithmetic is
    negligible: the cost of Python and of numpy's per-call dispatch in one step."""
    rng = np.random.default_rng(4)
    model = build_mlp(4, [4, 4], 2, dtype=dtype, rng=rng)
    opt, loss_fn = Adam(model, lr=LR), make_loss("cross_entropy")
    xb, yb = rng.normal(size=(4, 4)).astype(dtype), np.array([0, 1, 1, 0])
    return StepFloor._median_us(lambda: train_step(model, loss_fn, opt, xb, yb), repeats=2000)


def step_phases(X: np.ndarray, y: np.ndarray, dtype: str, steps: int = 200) -> dict[str, float]:
    """Median µs of each phase of nnexp's step (gather, forward, loss, backward, Adam), timed
    one by one on a separate model; the phases add up to a little more than an untimed step."""
    rng = np.random.default_rng(2)
    model = build_mlp(X.shape[1], HIDDEN, 10, dtype=dtype, rng=rng)
    opt, loss_fn = Adam(model, lr=LR), make_loss("cross_entropy")
    X, y = prepare_data(model, loss_fn, X, y)
    xb, yb = np.empty((BATCH, X.shape[1]), X.dtype), np.empty(BATCH, y.dtype)
    samples: dict[str, list[float]] = {k: [] for k in ("gather", "forward", "loss", "backward",
                                                        "adam")}
    clock = time.perf_counter
    for i in range(steps + 20):
        idx = rng.integers(0, X.shape[0], BATCH)
        t0 = clock()
        np.take(X, idx, axis=0, out=xb, mode="clip")
        np.take(y, idx, axis=0, out=yb, mode="clip")
        t1 = clock()
        out = model.forward(xb)
        t2 = clock()
        _, grad = loss_fn(out, yb)
        t3 = clock()
        model.backward(grad)
        t4 = clock()
        opt.step()
        t5 = clock()
        if i >= 20:
            for key, a, b in (("gather", t0, t1), ("forward", t1, t2), ("loss", t2, t3),
                              ("backward", t3, t4), ("adam", t4, t5)):
                samples[key].append((b - a) * 1e6)
    return {k: statistics.median(v) for k, v in samples.items()}


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
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--no-inline", action="store_true")
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

    fit_runner = NnexpRunner(X, y, args.dtype)
    runners: list = [fit_runner, ProductRunner(fit_runner)]
    if not args.no_inline:
        runners.append(InlineNumpyRunner(X, y, args.dtype))
    if not args.no_sklearn:
        runners.append(SklearnRunner(X, y, args.dtype, args.warmup + rounds))
    torch_note = "not run"
    if not args.no_torch:
        try:
            runners.append(TorchRunner(X, y, args.dtype, threads))
            torch_note = f"threads={threads} fused_adam={runners[-1].fused}"
        except ImportError:
            torch_note = "not importable"
    print(f"torch: {torch_note}")

    floor = StepFloor(X, args.dtype)
    load_before = f"{os.getloadavg()[0]:.2f}"
    floor_us: list[tuple[float, float, float]] = []
    times: dict[str, list[float]] = {r.name: [] for r in runners}
    for rnd in range(args.warmup + rounds):
        line = []
        for r in runners:
            time.sleep(args.pause)
            t0 = time.perf_counter()
            loss = r.epoch()
            dt = time.perf_counter() - t0
            if rnd >= args.warmup:
                times[r.name].append(dt / getattr(r, "samples", n_samples))
            line.append(f"{r.name} {getattr(r, 'samples', n_samples) / dt / 1e3:6.1f}k/s "
                        f"(loss {loss:.3f})")
        time.sleep(args.pause)
        matmul_us, adam_us, bare_us = floor.measure()
        if rnd >= args.warmup:
            floor_us.append((matmul_us, adam_us, bare_us))
        tag = "warm-up" if rnd < args.warmup else f"round {rnd - args.warmup + 1}"
        print(f"{tag:>8}: " + " | ".join(line)
              + f" | floor {matmul_us:.0f}+{adam_us:.0f} µs, bare step {bare_us:.0f} µs")

    # The machine is shared: a round counts only when every implementation and the floor ran
    # within QUIET of their own best round, so a neighbour's burst cannot pass for a result.
    columns = {**times, "floor": [sum(f) for f in floor_us]}
    best = {k: min(v) for k, v in columns.items()}
    quiet = [i for i in range(rounds) if all(v[i] <= QUIET * best[k] for k, v in columns.items())]
    reliable = len(quiet) >= 3
    print(f"quiet rounds: {len(quiet)} of {rounds} (every timing within {QUIET - 1:.0%} of its "
          f"best round); load average {load_before} before, {os.getloadavg()[0]:.2f} after"
          + ("" if reliable else "; too few: the figures below use every round and the "
             "targets get no verdict"))
    kept = quiet if reliable else list(range(rounds))
    times = {k: [v[i] for i in kept] for k, v in times.items()}
    floor_us = [floor_us[i] for i in kept]
    sps = {k: 1 / statistics.median(v) for k, v in times.items()}  # times: seconds per sample

    def paired_ratio(other: str, of: str = "nnexp") -> float | None:
        """Median over rounds of (other's time / of's time): > 1 means `of` is faster."""
        if other not in times:
            return None
        return statistics.median(o / s for s, o in zip(times[of], times[other], strict=True))

    for k, v in sps.items():
        print(f"{k:>8}: median {v:,.0f} samples/s")
    r_sk, r_torch = paired_ratio("sklearn"), paired_ratio("torch")
    r_inline, r_product = paired_ratio("inline"), paired_ratio("product")
    print(
        (f"nnexp / sklearn = {r_sk:.2f}x, " if r_sk else "")
        + (f"nnexp / torch = {r_torch:.2f}x, " if r_torch else "")
        + (f"nnexp / hand-inlined numpy = {r_inline:.2f}x" if r_inline else "")
        + (f"; hand-inlined numpy / sklearn = {paired_ratio('sklearn', of='inline'):.2f}x"
           if r_sk and r_inline else "")
    )
    step_us = 1e6 * BATCH / sps["nnexp"]
    matmul_us = statistics.median(f[0] for f in floor_us)
    adam_us = statistics.median(f[1] for f in floor_us)
    bare_us = statistics.median(f[2] for f in floor_us)
    floor_step_us = matmul_us + adam_us
    ceiling = BATCH / (floor_step_us * 1e-6)
    print(
        f"   floor: matmuls {matmul_us:.0f} µs + Adam {adam_us:.0f} µs a step -> no numpy "
        f"engine beats {ceiling:,.0f} samples/s here; nnexp's step {step_us:.0f} µs "
        f"(gather, activations, loss, Python: {step_us - floor_step_us:.0f} µs)"
    )
    print(f"    bare: gather + matmuls + Adam in sequence {bare_us:.0f} µs a step (the gather "
          f"and colder caches add {bare_us - floor_step_us:.0f} µs to the floor); "
          f"nnexp's step / bare step = {step_us / bare_us:.3f}")
    time.sleep(args.pause)
    phases = step_phases(X, y, args.dtype)
    overhead = overhead_us(args.dtype)
    fwd_bwd = phases["forward"] + phases["backward"]
    print("  phases: " + ", ".join(f"{k} {v:.0f} µs" for k, v in phases.items())
          + f" (sum {sum(phases.values()):.0f} µs; forward+backward {fwd_bwd:.0f} µs, the "
          f"floor's matmuls {matmul_us:.0f} µs of it)")
    print(f"overhead: the same step on a 4-4-4-2 network, batch 4 (Python and numpy dispatch): "
          f"{overhead:.0f} µs")

    product_over_fit = r_product  # the product path's epoch time over fit's, paired
    targets = [
        ("float32 nnexp / torch fused Adam >= 1.15" if args.dtype == "float32"
         else "float64 nnexp / torch >= 1.00",
         r_torch, (1.15 if args.dtype == "float32" else 1.0), ">="),
        ("nnexp step / floor <= 1.10", step_us / floor_step_us, 1.10, "<="),
        ("product path time / fit time <= 1.03", product_over_fit, 1.03, "<="),
    ]
    for label, value, bound, sense in targets:
        if value is None:
            print(f"  target {label}: not measured")
            continue
        met = value >= bound if sense == ">=" else value <= bound
        verdict = ("met" if met else "MISSED") if reliable else "no verdict (machine busy)"
        print(f"  target {label}: {value:.3f} {verdict}")
    print(
        json.dumps(
            {
                "nnexp_samples_per_s": round(sps["nnexp"], 1),
                "product_samples_per_s": round(sps["product"], 1),
                "product_time_over_fit": round(product_over_fit, 4),
                "sklearn_samples_per_s": round(sps["sklearn"], 1) if "sklearn" in sps else None,
                "torch_samples_per_s": round(sps["torch"], 1) if "torch" in sps else None,
                "ratio_vs_sklearn": round(r_sk, 3) if r_sk else None,
                "ratio_vs_torch": round(r_torch, 3) if r_torch else None,
                "inline_numpy_samples_per_s": round(sps["inline"], 1) if r_inline else None,
                "ratio_vs_inline_numpy": round(r_inline, 3) if r_inline else None,
                "dtype": args.dtype,
                "step_us": round(step_us, 1),
                "floor_matmul_us": round(matmul_us, 1),
                "floor_adam_us": round(adam_us, 1),
                "step_over_floor": round(step_us / floor_step_us, 3),
                "bare_step_us": round(bare_us, 1),
                "step_over_bare_step": round(step_us / bare_us, 3),
                "overhead_us": round(overhead, 1),
                "phases_us": {k: round(v, 1) for k, v in phases.items()},
                "n_samples": n_samples,
                "rounds": rounds,
                "quiet_rounds": len(quiet),
                "reliable": reliable,
                "blas": blas,
                "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
            }
        )
    )


if __name__ == "__main__":
    main()
