"""Learning-rate schedules: ``make_schedule(...)`` returns ``lr(t)`` for step t = 0, 1, 2, ...

With ``warmup_steps = W > 0`` the first W steps ramp linearly, lr(t) = base_lr·(t+1)/W, and the
chosen schedule then runs on the shifted step s = t - W (so it starts at base_lr).

Conventions that differ from PyTorch's schedulers on purpose:
- the warm-up is (t+1)/W: the first step already moves (base_lr/W) and step W-1 reaches
  base_lr; ``transformers.get_linear_schedule_with_warmup`` uses t/W (a first step with lr 0)
  and ``torch.optim.lr_scheduler.LinearLR`` ramps from its ``start_factor``;
- cosine holds ``min_lr`` after ``total_steps``; ``CosineAnnealingLR`` keeps following the
  cosine past ``T_max``, so its lr climbs back towards base_lr.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ._checks import check_choice, check_int, check_interval, check_non_negative, check_positive

SCHEDULES: tuple[str, ...] = ("constant", "step", "exponential", "cosine")


def constant(s: int, base_lr: float) -> float:
    """lr = base_lr."""
    return base_lr


def step_decay(s: int, base_lr: float, step_size: int, gamma: float) -> float:
    """lr = base_lr · gamma^floor(s / step_size)."""
    return base_lr * gamma ** (s // step_size)


def exponential(s: int, base_lr: float, decay: float) -> float:
    """lr = base_lr · decay^s."""
    return base_lr * decay**s


def cosine(s: int, base_lr: float, n_steps: int, min_lr: float) -> float:
    """lr = min_lr + (base_lr - min_lr) · (1 + cos(π · min(s, S) / S)) / 2,  S = n_steps."""
    frac = min(s, n_steps) / n_steps
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * frac))


def make_schedule(
    name: str,
    base_lr: float,
    *,
    total_steps: int | None = None,
    step_size: int = 1000,
    gamma: float = 0.1,
    decay: float = 0.999,
    warmup_steps: int = 0,
    min_lr: float = 0.0,
) -> Callable[[int], float]:
    """Return lr(t) for schedule ``name`` in ``SCHEDULES``, optionally after a linear warm-up.

    - constant:    lr = base_lr
    - step:        lr = base_lr · gamma^floor(s / step_size)
    - exponential: lr = base_lr · decay^s
    - cosine:      lr = min_lr + (base_lr - min_lr)(1 + cos(π s / S)) / 2, S = total_steps - W,
                   held at min_lr after total_steps (total_steps is required)
    - warm-up:     lr = base_lr · (t + 1) / W for t < W, then the schedule at s = t - W
    """
    check_choice("schedule", name, SCHEDULES)
    base_lr = check_positive("base_lr", base_lr)
    warmup_steps = check_int("warmup_steps", warmup_steps, 0)
    if name == "step":
        step_size = check_int("step_size", step_size, 1)
        gamma = check_interval("gamma", gamma, 0.0, 1.0, closed_high=True)
        if gamma == 0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        after = lambda s: step_decay(s, base_lr, step_size, gamma)  # noqa: E731
    elif name == "exponential":
        decay = check_interval("decay", decay, 0.0, 1.0, closed_high=True)
        if decay == 0:
            raise ValueError(f"decay must be in (0, 1], got {decay!r}")
        after = lambda s: exponential(s, base_lr, decay)  # noqa: E731
    elif name == "cosine":
        if total_steps is None:
            raise ValueError("total_steps must be given for the cosine schedule, got None")
        total_steps = check_int("total_steps", total_steps, warmup_steps + 1)
        min_lr = check_non_negative("min_lr", min_lr)
        if min_lr > base_lr:
            raise ValueError(f"min_lr must be <= base_lr ({base_lr}), got {min_lr!r}")
        n_steps = total_steps - warmup_steps
        after = lambda s: cosine(s, base_lr, n_steps, min_lr)  # noqa: E731
    else:
        after = lambda s: constant(s, base_lr)  # noqa: E731

    def lr(t: int) -> float:
        if t < 0:
            raise ValueError(f"step must be >= 0, got {t!r}")
        if t < warmup_steps:
            return base_lr * (t + 1) / warmup_steps
        return float(after(t - warmup_steps))

    lr.__doc__ = f"{name} schedule from base_lr={base_lr} (warmup_steps={warmup_steps})"
    return lr
