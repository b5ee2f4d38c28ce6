"""metrics/history.npz: compressed, each array in the smallest type that holds it exactly, and
read back as the float64 values and int64 steps the run measured (older plain files too)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnexp.experiment.history import MetricHistory, load_history


def _history(dtype: type, epochs: int = 300) -> MetricHistory:
    """A history as a run of `dtype` records it: per-step losses in that dtype (as Python
    floats), a float64 learning rate, per-epoch accuracies."""
    rng = np.random.default_rng(0)
    history = MetricHistory(flush_seconds=1e9)
    step = history.recorder(("train/loss_step", "lr"))
    for i in range(epochs * 4):
        step(i, (float(dtype(rng.random())), 0.1 / (1 + i) ** 0.5))
    for epoch in range(1, epochs + 1):
        history.add_many({"val/loss": float(dtype(rng.random())), "val/accuracy": epoch / 7},
                         epoch * 4)
    return history


def _plain(history: MetricHistory, path: Path) -> Path:
    """The history as runs wrote it before: int64 steps and times, float64 values, stored."""
    arrays = {}
    for keys, _, steps, times, values in history.blocks():
        for j, key in enumerate(keys):
            arrays.update({f"step/{key}": steps, f"time/{key}": times,
                           f"value/{key}": values[:, j]})
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def test_float32_and_float64_histories_read_back_bit_for_bit(tmp_path):
    for dtype in (np.float32, np.float64):
        history = _history(dtype)
        saved = load_history(history.save(tmp_path / f"{dtype.__name__}.npz"))
        assert set(saved) == set(history.keys())
        for key in history.keys():
            steps, values = history.series(key)
            assert saved[key][0].dtype == np.int64 and saved[key][1].dtype == np.float64
            assert np.array_equal(saved[key][0], steps)
            assert saved[key][1].tobytes() == values.tobytes(), (dtype, key)


def test_each_array_is_stored_in_the_smallest_exact_type(tmp_path):
    path = _history(np.float32).save(tmp_path / "h.npz")
    with np.load(path) as data:
        assert data["value/train/loss_step"].dtype == np.float32  # the run's dtype
        assert data["value/lr"].dtype == np.float64  # float32 would change its values
        assert data["value/val/accuracy"].dtype == np.float64
        assert data["step/train/loss_step"].dtype == np.uint16  # 1 200 steps
        assert data["step/val/loss"].dtype == np.uint16
        assert str(data["steps_of/lr"]) == "train/loss_step"  # recorded together: stored once
        assert "step/lr" not in data.files and "time/val/accuracy" not in data.files


def test_a_history_written_the_old_way_is_still_read(tmp_path):
    history = _history(np.float32)
    old = load_history(_plain(history, tmp_path / "old.npz"))
    new = load_history(history.save(tmp_path / "new.npz"))
    assert set(old) == set(new)
    for key in old:
        assert old[key][0].tobytes() == new[key][0].tobytes()
        assert old[key][1].tobytes() == new[key][1].tobytes()


def test_the_file_is_at_most_a_quarter_of_the_plain_one(tmp_path):
    history = _history(np.float32, epochs=2000)
    plain = _plain(history, tmp_path / "old.npz").stat().st_size
    assert history.save(tmp_path / "new.npz").stat().st_size <= plain / 4
