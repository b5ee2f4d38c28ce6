"""What the run asks at each epoch's end: should it stop here? The `Pruner` protocol and its
answer `Pruned`; a sweep's rules and the store's siblings answer it (`nnexp.sweeps`), the run
only asks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Pruned:
    """Why a run was stopped: at which epoch, its value, against what, among how many."""

    epoch: int
    rule: str
    value: float  # the run's value compared (median: its best so far; asha: at the rung)
    threshold: float  # the siblings' median, or the worst value still promoted at the rung
    n_siblings: int
    reason: str | None = None  # said instead of the comparison (a replayed decision)

    def describe(self, objective: str) -> str:
        """`epoch 6: val/loss 0.82 worse than the median 0.31 of 5 siblings` (exact reprs)."""
        if self.reason is not None:
            return f"epoch {self.epoch}: {self.reason}"
        against = ("the median" if self.rule == "median"
                   else "the last value kept at this rung by")
        return (f"epoch {self.epoch}: {objective} {self.value!r} worse than {against} "
                f"{self.threshold!r} of {self.n_siblings} siblings ({self.rule})")



class Pruner(Protocol):
    """Asked at each epoch's end whether the run should stop there; at the run's end, what its
    record should keep of the pruning (values siblings read, its cost)."""

    def should_stop(self, epoch: int, values: Mapping[str, float]) -> Pruned | None: ...

    def outcome_tags(self) -> dict[str, str]: ...



class StopAtEpoch:
    """Stops at the epoch a recorded decision stopped a run: reproducing a pruned run trains
    what it trained, without its siblings."""

    def __init__(self, epoch: int, reason: str) -> None:
        self.epoch = epoch
        self.reason = reason

    def should_stop(self, epoch: int, values: Mapping[str, float]) -> Pruned | None:
        if epoch != self.epoch:
            return None
        return Pruned(epoch, "recorded", math.nan, math.nan, 0, reason=self.reason)

    def outcome_tags(self) -> dict[str, str]:
        return {}


def pruning_tags(pruner: Pruner | None, pruned: Pruned | None, objective: str) -> dict[str, str]:
    """Why the run was pruned (it ends KILLED: it did not train its planned epochs, so no
    filter on FINISHED takes it for a complete run), and what pruning cost it."""
    from nnexp.record import tags

    found = pruner.outcome_tags() if pruner is not None else {}
    if pruned is not None:
        reason = pruned.describe(objective)
        found.update({tags.PRUNED: reason, tags.PRUNED_EPOCH: str(pruned.epoch),
                      tags.STATUS_REASON: f"pruned at {reason}"})
    return found
