"""`sweep.skip_lr_above`: the largest learning rate worth training for a job, decided before its
run exists: a number as given, or the divergence point of the configuration's lr range test
(recorded in the store, or run now and recorded under the sweep's parent)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from nnexp.data import Dataset
from nnexp.experiment.range_test import RangeTest, range_test_key, record_range_test
from nnexp.tracking.observers import make_observer
from nnexp.tracking.store import resolve_tracking_uri


def run_range_test(cfg: DictConfig, *, overrides: list[str], parent_run_id: str | None = None,
                   dataset: Dataset | None = None, command: list[str] | None = None
                   ) -> tuple[RangeTest, str | None]:
    """The range test recorded as its own run (when tracking is on); the test and the run id."""
    uri = resolve_tracking_uri(cfg.tracking.uri, probe=False) if cfg.tracking.enabled else None
    return record_range_test(cfg, make_observer(cfg, uri, verbose=False), overrides=overrides,
                             parent_run_id=parent_run_id, dataset=dataset, command=command)


def learning_rate_limit(cfg: DictConfig, config: dict[str, Any], uri: str | None,
                        dataset: Dataset, parent_run_id: str | None, overrides: list[str],
                        command: list[str] | None) -> tuple[float | None, str]:
    """`sweep.skip_lr_above`: the largest learning rate worth training, and where it comes from.

    A number is taken as it is. `auto` is the divergence point of the configuration's range
    test: a recorded one when the store has it, else one run now (recorded under the sweep's
    parent), so the jobs of a sweep that differ only in lr and seed share one test."""
    given = cfg.sweep.skip_lr_above
    if given != "auto":
        return float(given), f"sweep.skip_lr_above={given}"
    found = None
    key = range_test_key(config)
    if uri is not None:
        from nnexp.sweeps.range_tests import recorded_range_test

        found = recorded_range_test(uri, cfg.tracking.experiment, key)
    if found is None:
        test, run_id = run_range_test(cfg, overrides=without_lr(overrides),
                                      parent_run_id=parent_run_id, dataset=dataset,
                                      command=command)
        found = (run_id or "not recorded", test.divergence_lr)
    run_id, divergence = found
    if divergence is None:
        return None, (f"the lr range test (run {run_id}) saw no divergence up to "
                      f"lr_find.max_lr={cfg.lr_find.max_lr:g}")
    return divergence, f"{divergence:.4g}, where the lr range test (run {run_id}) diverged"


def without_lr(overrides: list[str]) -> list[str]:
    """Overrides minus those of lr and of the range test itself."""
    keys = [o.split("=", 1)[0].lstrip("+~") for o in overrides]
    return [o for o, key in zip(overrides, keys, strict=True)
            if key != "lr" and not key.startswith("lr_find.")]
