"""Stores shared by the UI, model, predict and plot tests: built once per session, in tmp."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_inprocess

SWEEP = ["nnexp.train", "-m", "lr=0.1,0.01", "train.epochs=2", "model.hidden=[16]"]


@pytest.fixture(scope="session")
def sweep_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose mlruns/ holds a 2-child sweep on digits (made with the real CLI)."""
    root = tmp_path_factory.mktemp("sweep")
    done = run_inprocess(SWEEP, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    return root


@pytest.fixture(scope="session")
def image_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a cat/not_cat picture set and one image run trained on it in mlruns/."""
    from nnexp.data import make_image_folder

    root = tmp_path_factory.mktemp("images")
    make_image_folder(root / "pictures", per_class=8, size=(16, 16))
    done = run_inprocess(["nnexp.train", "data=images", f"data.image_dir={root / 'pictures'}",
                          "data.image_size=[16,16]", "train.epochs=15", "model.hidden=[8]"],
                         cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    return root
