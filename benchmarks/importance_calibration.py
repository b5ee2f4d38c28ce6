"""Calibration of what mattered (`nnexp.sweeps.importance`) on synthetic sweeps whose answer is
known: objective = 1 + effect(lr) + N(0, noise sd), whatever the width (3 lr x 3 widths x 3 seeds,
lr effects 0, 0.3, 0.6). Per noise level, over N sweeps: how often lr ranks first and its interval
excludes 0, how often the width's interval includes 0, the seed share's mean estimate against the
truth and how often one sweep's estimate is within 5 points of it, and how often each 95 %
interval covers the true share (lr, seed noise).

Run: python benchmarks/importance_calibration.py [--sweeps 100] [--sd 0.05 0.15 0.3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sweeps"))
from test_importance_calibration import LR_EFFECT, synthetic_sweep, true_seed_share  # noqa: E402

from nnexp.sweeps.mattered import what_mattered  # noqa: E402


def row(sd: float, sweeps: int) -> list[str]:
    rng = np.random.default_rng(1)
    truth_seed = true_seed_share(sd)
    truth_lr = 1 - truth_seed
    n = dict.fromkeys(("first", "lr_excl", "w_incl", "near", "cover_lr", "cover_seed"), 0)
    estimates = []
    for _ in range(sweeps):
        found = what_mattered(synthetic_sweep(rng, sd), ["lr", "model.hidden", "seed"],
                              "val/loss")
        by = {s.name: s for s in found.main}
        n["first"] += found.main[0].name == "lr"
        n["lr_excl"] += by["lr"].excludes_zero
        n["w_incl"] += not by["model.hidden"].excludes_zero
        n["near"] += abs(found.noise.share - truth_seed) <= 0.05
        n["cover_lr"] += by["lr"].low <= truth_lr <= by["lr"].high
        n["cover_seed"] += found.noise.low <= truth_seed <= found.noise.high
        estimates.append(found.noise.share)
    return [f"{sd:g}", str(n["first"]), str(n["lr_excl"]), str(n["w_incl"]),
            f"{np.mean(estimates):.3f} / {truth_seed:.3f}", str(n["near"]),
            f"{n['cover_lr']}", f"{n['cover_seed']}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=100)
    parser.add_argument("--sd", type=float, nargs="+", default=[0.05, 0.15, 0.3])
    args = parser.parse_args()
    start = time.perf_counter()
    header = ["noise sd", "lr first", "lr excl 0", "width incl 0", "seed share est / truth",
              "seed within 5 pts", "covers lr share", "covers seed share"]
    rows = [header] + [row(sd, args.sweeps) for sd in args.sd]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    print(f"what mattered over {args.sweeps} synthetic sweeps per row (3 lr x 3 widths x 3 seeds, "
          f"lr effects {list(LR_EFFECT.values())}, width none):")
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
