"""Size of a run's `metrics/history.npz`: as runs wrote it before (int64 steps and times, float64
values, stored) against now (compressed, each array in the smallest exact type, steps and
times shared by metrics recorded together) (issue 26).

`MetricHistory.save` is a function of the rows a run recorded, so the long history is built
without training: a 20 000-epoch run of the default digits MLP (34 steps an epoch) logging
every step, with the loop's keys and value types (per step: the loss as float64, a constant
learning rate, float32 gradient norms of 2 layers; per epoch: 10 metrics), random values (the
worst case for compression) and millisecond times advancing 2 ms a step. A real run (`--epochs`
of the default config, every step, trained here) is measured too.

    python benchmarks/history_size.py                  # about a minute
    python benchmarks/history_size.py --epochs 0       # the built history only

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nnexp.experiment.history import MetricHistory, load_history  # noqa: E402

STEP_KEYS = ("train/loss_step", "lr", "grad_norm/layer1", "grad_norm/layer2")
EPOCH_KEYS = ("train/loss", "val/loss", "val/accuracy", "weight_norm/layer1",
              "weight_norm/layer2", "update_ratio/layer1", "update_ratio/layer2",
              "dead_units/layer1", "epoch", "train/accuracy")


def built(epochs: int, steps_per_epoch: int = 34) -> MetricHistory:
    """The history of `epochs` epochs logged every step (see the module docstring)."""
    rng = np.random.default_rng(0)
    n = epochs * steps_per_epoch
    steps = np.arange(n, dtype=np.int64)
    per_step = np.column_stack([rng.random(n), np.full(n, 0.001),
                                rng.random(n).astype(np.float32),
                                rng.random(n).astype(np.float32)]).astype(np.float64)
    ends = steps[steps_per_epoch - 1::steps_per_epoch]
    per_epoch = rng.random((epochs, len(EPOCH_KEYS)))
    per_epoch[:, 3:5] = per_epoch[:, 3:5].astype(np.float32)
    per_epoch[:, 8] = np.arange(1, epochs + 1)
    history = MetricHistory(flush_seconds=1e12)
    start = 1_790_000_000_000
    history.restore([(STEP_KEYS, True, steps, start + 2 * steps, per_step),
                     (EPOCH_KEYS, False, ends, start + 2 * ends, per_epoch)])
    return history


def plain(path: Path, out: Path) -> Path:
    """A history file rewritten the old way: int64 steps and times, float64 values, stored."""
    arrays = {}
    with np.load(path) as data:
        for key, (steps, values) in load_history(path).items():
            name = str(data[f"steps_of/{key}"]) if f"steps_of/{key}" in data.files else key
            arrays.update({f"step/{key}": steps, f"value/{key}": values,
                           f"time/{key}": data[f"time/{name}"].astype(np.int64)})
    with open(out, "wb") as handle:
        np.savez(handle, **arrays)
    return out


def trained(epochs: int, work: Path) -> Path:
    """metrics/history.npz of a real default run of `epochs` epochs logging every step."""
    subprocess.run([sys.executable, "-m", "nnexp.train", f"train.epochs={epochs}",
                    "train.patience=0", "tracking.log_every_n_steps=1", "tracking.plots=false",
                    "tracking.log_model=false"], cwd=work, check=True, capture_output=True,
                   env={**{k: v for k, v in os.environ.items()
                           if not k.startswith(("MLFLOW_", "NNEXP_"))}, "PYTHONPATH": str(ROOT)})
    return next(work.glob("mlruns/artifacts/**/metrics/history.npz"))


def sizes(new: Path, work: Path, label: str) -> dict[str, float]:
    old = plain(new, work / f"{label}-old.npz").stat().st_size
    now = new.stat().st_size
    print(f"{label}: before {old / 1e6:.2f} MB, now {now / 1e6:.2f} MB: {now / old:.3f} of "
          f"before (target <= 0.25)")
    return {f"{label}_before_mb": round(old / 1e6, 3), f"{label}_now_mb": round(now / 1e6, 3),
            f"{label}_ratio": round(now / old, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100, help="real run's epochs (0: none)")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="nnexp-history-bench-") as tmp:
        work = Path(tmp)
        history = built(20_000)
        new = history.save(work / "built.npz")
        figures.update(sizes(new, work, "built_20000_epochs"))
        assert all(np.array_equal(history.series(k)[1], v)
                   for k, (_, v) in load_history(new).items()), "a value changed"
        if args.epochs:
            figures.update(sizes(trained(args.epochs, work), work, f"real_{args.epochs}_epochs"))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
