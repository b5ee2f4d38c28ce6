"""Two metric histories compared value by value, exactly (bits, not tolerances): what
`nnexp.reproduce` reports as `identical` or as the first difference."""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricPoint:
    """One logged value; `offset_ms` is its time since the run started, to order differences."""

    step: int
    value: float
    offset_ms: int


@dataclass
class MetricDifference:
    """The first step at which one metric's two histories disagree."""

    key: str
    step: int | None
    recorded: list[float]
    reproduced: list[float]
    offset_ms: int  # when the recorded (else reproduced) value was logged, to find the first


@dataclass
class Comparison:
    """Every metric of two runs compared value by value."""

    n_metrics: int
    n_values: int
    differences: list[MetricDifference]  # earliest first



def _bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


def _by_step(points: list[MetricPoint]) -> dict[int, list[MetricPoint]]:
    steps: dict[int, list[MetricPoint]] = {}
    for point in points:
        steps.setdefault(point.step, []).append(point)
    return steps


def _first_difference(key: str, recorded: list[MetricPoint], reproduced: list[MetricPoint]
                      ) -> MetricDifference | None:
    a, b = _by_step(recorded), _by_step(reproduced)
    for step in sorted(set(a) | set(b)):
        pa, pb = a.get(step, []), b.get(step, [])
        va, vb = [p.value for p in pa], [p.value for p in pb]
        if _bits(va) != _bits(vb):
            offset = min(p.offset_ms for p in (pa or pb))
            return MetricDifference(key, step, va, vb, offset)
    return None


def common_steps(recorded: dict[str, list[MetricPoint]],
                 reproduced: dict[str, list[MetricPoint]], last_step: int
                 ) -> tuple[dict[str, list[MetricPoint]], dict[str, list[MetricPoint]]]:
    """Both histories cut to the steps up to `last_step` that both logged (a reproduction that
    stopped early is compared with the record as far as it went)."""
    def cut(points: list[MetricPoint], steps: set[int]) -> list[MetricPoint]:
        return [p for p in points if p.step <= last_step and p.step in steps]

    mine, theirs = {}, {}
    for key in set(recorded) & set(reproduced):
        steps = {p.step for p in recorded[key]} & {p.step for p in reproduced[key]}
        if any(step <= last_step for step in steps):
            mine[key], theirs[key] = cut(recorded[key], steps), cut(reproduced[key], steps)
    return mine, theirs


def compare_histories(recorded: dict[str, list[MetricPoint]],
                      reproduced: dict[str, list[MetricPoint]]) -> Comparison:
    """Every key, every step, exact bits (NaN equals NaN, 0.0 differs from -0.0)."""
    differences = []
    for key in sorted(set(recorded) | set(reproduced)):
        found = _first_difference(key, recorded.get(key, []), reproduced.get(key, []))
        if found is not None:
            differences.append(found)
    differences.sort(key=lambda d: (d.offset_ms, d.step if d.step is not None else -1, d.key))
    n_values = sum(len(points) for points in recorded.values())
    return Comparison(len(set(recorded) | set(reproduced)), n_values, differences)


def _values(values: list[float]) -> str:
    return ", ".join(repr(v) for v in values) if values else "(not logged)"


def describe(difference: MetricDifference) -> str:
    """`val/loss at step 2: recorded 0.25, reproduced 0.2500001` (exact, round-trip reprs)."""
    return (f"{difference.key} at step {difference.step}: recorded "
            f"{_values(difference.recorded)}, reproduced {_values(difference.reproduced)}")
