"""What mattered, calibrated on synthetic sweeps whose answer is known: the objective depends on
lr, not on the width, plus seed noise (3 lr x 3 widths x 3 seeds). No training: the analysis
function on tables of children, as a sweep's summary rows give them."""

from __future__ import annotations

import numpy as np

from nnexp.sweeps.importance import NOISE
from nnexp.sweeps.mattered import what_mattered

LR_EFFECT = {"0.003": 0.0, "0.03": 0.3, "0.3": 0.6}  # objective added by each learning rate
WIDTHS = ("[8]", "[16]", "[32]")
SWEEPS = 100


def synthetic_sweep(rng: np.random.Generator, noise_sd: float, seeds: int = 3) -> list[dict]:
    """One sweep's children: objective = 1 + effect(lr) + N(0, noise_sd), whatever the width."""
    return [{"lr": lr, "model.hidden": width, "seed": str(seed), "status": "FINISHED",
             "val/loss": float(1 + effect + rng.normal(0, noise_sd))}
            for lr, effect in LR_EFFECT.items() for width in WIDTHS for seed in range(seeds)]


def true_seed_share(noise_sd: float) -> float:
    """The seed noise's share of one child's variance over the grid."""
    return noise_sd ** 2 / (np.var(list(LR_EFFECT.values())) + noise_sd ** 2)


def calibration(noise_sd: float, sweeps: int = SWEEPS, seed: int = 1) -> dict[str, float]:
    """Counts over `sweeps` synthetic sweeps, and the seed share's mean estimate and truth."""
    rng = np.random.default_rng(seed)
    counts = {"lr first": 0, "lr excludes 0": 0, "width includes 0": 0, "seed within 5 pts": 0}
    estimates = []
    truth = true_seed_share(noise_sd)
    for _ in range(sweeps):
        found = what_mattered(synthetic_sweep(rng, noise_sd), ["lr", "model.hidden", "seed"],
                              "val/loss")
        by_name = {s.name: s for s in found.main}
        counts["lr first"] += found.main[0].name == "lr"
        counts["lr excludes 0"] += by_name["lr"].excludes_zero
        counts["width includes 0"] += not by_name["model.hidden"].excludes_zero
        assert found.noise is not None and found.noise.name == NOISE
        estimates.append(found.noise.share)
        counts["seed within 5 pts"] += abs(found.noise.share - truth) <= 0.05
    return {**counts, "seed share mean": float(np.mean(estimates)), "seed share truth": truth}


def table(rows: dict[float, dict[str, float]]) -> str:
    """The calibration as the closing note shows it."""
    header = ("noise sd", "lr first", "lr excl 0", "width incl 0", "seed share (mean est / "
              "truth)", "seed within 5 pts")
    lines = [" | ".join(header)]
    for sd, r in rows.items():
        lines.append(f"{sd:g} | {r['lr first']} | {r['lr excludes 0']} | {r['width includes 0']}"
                     f" | {r['seed share mean']:.3f} / {r['seed share truth']:.3f} | "
                     f"{r['seed within 5 pts']}")
    return "\n".join(lines)


def test_lr_matters_width_does_not_and_the_seed_share_is_right():
    rows = {sd: calibration(sd) for sd in (0.05, 0.15)}
    print(f"\nwhat mattered over {SWEEPS} synthetic sweeps (3 lr x 3 widths x 3 seeds):\n"
          + table(rows))
    for r in rows.values():
        assert r["lr first"] >= 95
        assert r["lr excludes 0"] >= 95
        assert r["width includes 0"] >= 95
        assert abs(r["seed share mean"] - r["seed share truth"]) <= 0.05
    # little noise: every single sweep's estimate is within 5 points of the truth
    assert rows[0.05]["seed within 5 pts"] >= 95


def test_the_same_children_give_the_same_numbers():
    children = synthetic_sweep(np.random.default_rng(7), 0.1)
    first = what_mattered(children, ["lr", "model.hidden", "seed"], "val/loss")
    again = what_mattered(list(reversed(children)), ["lr", "model.hidden", "seed"], "val/loss")
    assert first.main == again.main and first.noise == again.noise


def test_a_sweep_that_is_no_grid_gets_a_forest_importance():
    """Optuna's sampled values: each lr once; a random forest ranks lr first, no seed share."""
    rng = np.random.default_rng(3)
    lrs = 10 ** rng.uniform(-3, 0, 20)
    children = [{"lr": f"{lr:.6g}", "model.hidden": str(rng.choice(["[8]", "[16]"])),
                 "status": "FINISHED", "val/loss": float(np.log10(lr) ** 2 + rng.normal(0, .05))}
                for lr in lrs]
    found = what_mattered(children, ["lr", "model.hidden"], "val/loss")
    assert found.method.startswith("random-forest")
    assert found.main[0].name == "lr" and found.main[0].share > 0.8
    assert found.noise is None and "non-negative" in found.note
