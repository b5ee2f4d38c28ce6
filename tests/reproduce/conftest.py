"""Fixtures for reproduce/diff tests: a small trained run in the temporary store."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nnexp.sweeps.job import run_job

QUICK = ("tracking.plots=false",)


@pytest.fixture
def train_run(make_cfg: Callable[..., object]) -> Callable[..., str]:
    """Train a shrunk config (plus `overrides`) in the temp store; return its run id."""

    def train(*overrides: str, parent_run_id: str | None = None, name: str = "run") -> str:
        cfg = make_cfg(*QUICK, *overrides)
        result = run_job(cfg, run_name=name, overrides=list(overrides),
                         parent_run_id=parent_run_id, verbose=False,
                         command=["python", "-m", "nnexp.train", *overrides])
        assert result.run_id is not None
        return result.run_id

    return train
