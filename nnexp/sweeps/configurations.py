"""Which runs of a sweep are one configuration: the values they trained with, compared as numbers.

Hydra names a job by its override text, and that text is not the value: `lr=0.1,1e-1` gives two
jobs both printed `lr=0.1`, and `lr=1,1.0` two names for one learning rate. So a run's swept values
are read from its params (the config it trained with) and compared as numbers where they are
numbers: equal numbers are one configuration however they were written, different numbers stay
apart however alike they print (`0.1` and `0.1000001` are two). Two finished runs of one
configuration and one seed are duplicate jobs: the statistics count that seed once (the mean of
its runs) and the summary names them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

SEED_KEY = "seed"
TRAINED = "trained_values"  # a summary row's field: swept key -> the run's param text


@dataclass
class Configuration:
    """The finished runs of one configuration, by seed; `name` is its swept values but the seed
    as the first of its runs spells them (`lr=0.1,model.hidden=[8]`)."""

    name: str
    values: dict[str, Any]  # swept key (not the seed) -> the value shown for it
    runs_by_seed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def n_runs(self) -> int:
        return sum(len(runs) for runs in self.runs_by_seed.values())

    def objective_by_seed(self, objective: str) -> dict[str, float]:
        """Seed -> objective; a seed run more than once counts once, as the mean of its runs."""
        return {seed: math.fsum(r[objective] for r in runs) / len(runs)
                for seed, runs in self.runs_by_seed.items()}


def trained_values(params: dict[str, str], overrides: dict[str, str], keys: list[str]
                   ) -> dict[str, str]:
    """A run's value of each swept key: its param (what it trained with), else the override text
    (a config group choice such as `optimizer=sgd` is no param)."""
    return {key: params.get(key, overrides.get(key, "")) for key in keys}


def comparable(text: Any) -> Any:
    """A value as compared: numbers as floats (`1e-1`, `0.1` -> 0.1; `1`, `1.0` -> 1.0), lists
    item by item (`[8, 16]` -> (8.0, 16.0)), other text as it is."""
    text = str(text).strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None and text.lower().lstrip("+-") not in ("nan", "inf", "infinity"):
        return 0.0 if number == 0 else number  # -0.0 and 0.0 are one value
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return tuple(comparable(part) for part in inner.split(",")) if inner else ()
    return text


def _key(row: dict[str, Any], key: str) -> Any:
    return comparable(row.get(TRAINED, {}).get(key, row.get(key, "")))


def configurations(rows: list[dict[str, Any]], keys: list[str], objective: str
                   ) -> list[Configuration]:
    """The finished runs with a finite objective, grouped by their trained swept values (all but
    the seed), in the order of their first runs."""
    others = [k for k in keys if k != SEED_KEY]
    found: dict[tuple[Any, ...], Configuration] = {}
    names: set[str] = set()
    for row in rows:
        value = row.get(objective, math.nan)
        if row["status"] != "FINISHED" or not isinstance(value, float) or not math.isfinite(value):
            continue
        key = tuple(_key(row, k) for k in others)
        if key not in found:
            name = ",".join(f"{k}={row[k]}" for k in others) or "defaults"
            if name in names:  # alike in print, different in value: the values tell them apart
                name = ",".join(f"{k}={v!r}" for k, v in zip(others, key, strict=True))
            names.add(name)
            found[key] = Configuration(name, {k: row[k] for k in others})
        seed = str(row.get(TRAINED, {}).get(SEED_KEY, row.get(SEED_KEY, "")))
        found[key].runs_by_seed.setdefault(seed, []).append(row)
    return list(found.values())


def duplicate_jobs(configs: list[Configuration]) -> list[str]:
    """One line per configuration and seed that more than one run trained: the same job twice."""
    return [f"{config.name}{f', seed {seed}' if seed else ''}: {len(runs)} runs trained the "
            f"same values ({', '.join(r['run_id'] for r in runs)}), counted once as their mean"
            for config in configs for seed, runs in config.runs_by_seed.items() if len(runs) > 1]
