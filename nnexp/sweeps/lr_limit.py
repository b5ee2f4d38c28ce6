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
        # its record names the lr_find.* settings it ran with, not the job's lr
        test, run_id = run_range_test(cfg, overrides=[o for o in overrides if _key(o) != "lr"],
                                      parent_run_id=parent_run_id, dataset=dataset,
                                      command=command)
        found = (run_id or "not recorded", test.divergence_lr)
    run_id, divergence = found
    if divergence is None:
        return None, (f"the lr range test (run {run_id}) saw no divergence up to "
                      f"lr_find.max_lr={cfg.lr_find.max_lr:g}")
    return divergence, f"{divergence:.4g}, where the lr range test (run {run_id}) diverged"


def outside_tested_range(cfg: DictConfig, limit: float | None) -> str | None:
    """`sweep.skip_lr_above=auto`: why the job's lr lies outside what its range test tried (below
    lr_find.min_lr, or above lr_find.max_lr when the test saw no divergence), or None."""
    f, lr = cfg.lr_find, float(cfg.lr)
    if cfg.sweep.skip_lr_above != "auto":
        return None
    if lr < f.min_lr:
        return (f"lr={lr:g} is below the lr range test's tested range (lr_find.min_lr="
                f"{f.min_lr:g}): how it trains was not tested")
    if limit is None and lr > f.max_lr:
        return (f"lr={lr:g} is above the lr range test's tested range (lr_find.max_lr="
                f"{f.max_lr:g}): whether it diverges was not tested")
    return None


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def without_lr(overrides: list[str]) -> list[str]:
    """Overrides minus those of lr and of the range test itself."""
    return [o for o in overrides if _key(o) != "lr" and not _key(o).startswith("lr_find.")]
