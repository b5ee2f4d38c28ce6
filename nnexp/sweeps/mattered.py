"""What mattered, and in words. The importance of the swept keys (variance components over a
grid, `importance`; a random forest's otherwise, `importance_forest`), and a line per key: share,
interval, a plain sentence only where the data support it; the same on the console
(`nnexp.why`), in the report and in the parent's description.

A sentence says a key matters when its interval excludes 0 (and where its best value is), that it
shows no measurable effect when its interval includes 0, and that it stops mattering past a value
of another key (`model.hidden does not matter once lr >= 0.03`) only when, beyond that value, its
effect is within seed noise in every slice of the grid while before it the effect is well beyond
it. Without seeds there is no noise to compare with, so no such sentence.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from nnexp.sweeps.configurations import SEED_KEY, TRAINED, comparable
from nnexp.sweeps.importance import (
    RESAMPLES,
    SEED,
    Importance,
    Share,
    build_table,
    is_grid,
    level_order,
    variance_components,
)
from nnexp.sweeps.importance_forest import forest_importance
from nnexp.sweeps.report_svg import show

WITHIN, BEYOND = 2.0, 3.0  # slice effect / standard error of a difference of two slice means


def _pct(x: float) -> str:
    return "   -" if math.isnan(x) else f"{100 * x:5.1f}%"


def value_of(row: dict[str, Any], key: str) -> Any:
    return comparable(row.get(TRAINED, {}).get(key, row.get(key, "")))


def _best_value(rows: list[dict[str, Any]], key: str, objective: str, direction: str) -> str:
    groups: dict[Any, list[float]] = defaultdict(list)
    for row in rows:
        groups[value_of(row, key)].append(row[objective])
    sign = 1.0 if direction == "minimize" else -1.0
    best = min(groups, key=lambda v: sign * sum(groups[v]) / len(groups[v]))
    mean = sum(groups[best]) / len(groups[best])
    return f"best at {key}={show(best)} (mean {objective} {mean:.4g})"


def _slices(rows: list[dict[str, Any]], key: str, other: str, objective: str
            ) -> dict[float, tuple[float, int]]:
    """Per value of `other`: (the range of `key`'s mean objectives, fewest children behind one)."""
    cells: dict[tuple[Any, Any], list[float]] = defaultdict(list)
    for row in rows:
        cells[(value_of(row, other), value_of(row, key))].append(row[objective])
    found: dict[float, tuple[float, int]] = {}
    for at in {o for o, _ in cells}:
        means = [sum(v) / len(v) for (o, _), v in cells.items() if o == at]
        sizes = [len(v) for (o, _), v in cells.items() if o == at]
        if len(means) > 1 and isinstance(at, float):
            found[at] = (max(means) - min(means), min(sizes))
    return found


def _once(rows: list[dict[str, Any]], key: str, other: str, objective: str, noise: float
          ) -> str | None:
    """`key does not matter once other >= t` (or `<= t`) where the grid shows it, else None."""
    slices = _slices(rows, key, other, objective)
    if len(slices) < 2 or not noise > 0:
        return None
    quiet = {at: effect <= WITHIN * math.sqrt(2 * noise / n) for at, (effect, n) in
             slices.items()}
    loud = {at: effect > BEYOND * math.sqrt(2 * noise / n) for at, (effect, n) in slices.items()}
    order = sorted(slices)
    for cut in range(1, len(order)):
        low, high = order[:cut], order[cut:]
        if all(quiet[a] for a in high) and all(loud[a] for a in low):
            return f"{key} does not matter once {other} >= {order[cut]:g}"
        if all(quiet[a] for a in low) and all(loud[a] for a in high):
            return f"{key} does not matter once {other} <= {order[cut - 1]:g}"
    return None


def sentence(share: Share, importance: Importance, rows: list[dict[str, Any]], objective: str,
             direction: str) -> str:
    """The plain sentence for one key's share, or "" where the data do not support one."""
    key = share.name
    if math.isnan(share.low) or importance.noise is None:  # no seeds, or a forest's (always > 0)
        return ""
    if not share.excludes_zero:
        said = "no measurable effect: its interval includes 0"
    else:
        said = f"matters: {_best_value(rows, key, objective, direction)}"
    others = [k for s in importance.main for k in s.keys if k != key]
    for other in others:
        found = _once(rows, key, other, objective, importance.noise_variance)
        if found:
            return f"{said}; {found}"
    return said


def what_mattered(children: list[dict[str, Any]], keys: list[str], objective: str,
                  resamples: int = RESAMPLES, seed: int = SEED) -> Importance | None:
    """The importance of the swept keys for the usable children (finite objective), or None when
    nothing varies or too few children finished."""
    usable = [c for c in children if c.get("status", "FINISHED") == "FINISHED"
              and isinstance(c.get(objective), float) and math.isfinite(c[objective])]
    if len(usable) < 3:
        return None
    varied = [k for k in keys if k != SEED_KEY
              and len({str(c.get(TRAINED, {}).get(k, c.get(k))) for c in usable}) > 1]
    if not varied:
        return None
    def canonical(child: dict[str, Any]) -> tuple[Any, ...]:  # the same children, any order
        return (tuple(level_order(value_of(child, k)) for k in varied),
                str(value_of(child, SEED_KEY)), child[objective])

    table = build_table(sorted(usable, key=canonical), varied, objective)
    if is_grid(table):
        return variance_components(table, resamples, seed)
    return forest_importance(table, resamples=min(resamples, 30), seed=seed)


def usable(rows: list[dict[str, Any]], objective: str) -> list[dict[str, Any]]:
    """Finished children with a finite objective."""
    return [r for r in rows if r["status"] == "FINISHED" and isinstance(r.get(objective), float)
            and math.isfinite(r[objective])]


def lines(importance: Importance | None, rows: list[dict[str, Any]], objective: str,
          direction: str) -> list[str]:
    """The "what mattered" lines: a header, a line per key, pairs, seed noise, a note."""
    if importance is None:
        return ["what mattered: not enough finished children with a finite objective, or "
                "nothing varied"]
    kept = usable(rows, objective)
    width = max(len(s.name) for s in [*importance.main, *importance.interactions,
                                      *([importance.noise] if importance.noise else [])])
    out = [f"what mattered ({importance.method}, share of the variance of {objective} over "
           f"{importance.n_children} children, 95% bootstrap interval):"]

    def line(share: Share, text: str) -> str:
        interval = "" if math.isnan(share.low) else f"  [{_pct(share.low)}, {_pct(share.high)}]"
        return (f"  {share.name:<{width}}  {_pct(share.share)}{interval}"
                + (f"  {text}" if text else "")).rstrip()

    out += [line(s, sentence(s, importance, kept, objective, direction)) for s in importance.main]
    out += [line(s, "interaction" if s.excludes_zero else "") for s in importance.interactions]
    if importance.noise is not None:
        out.append(line(importance.noise, "what seeds move (data split, initialisation)"))
    if importance.note:
        out.append(f"  note: {importance.note}")
    return out
