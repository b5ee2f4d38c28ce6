"""Each run's plots exist as sensible PNGs; weight images only for image runs; sweep plots."""

from __future__ import annotations

import struct

from helpers import all_runs, client_for, store_of

RUN_PLOTS = {"loss_curves.png", "gradient_norms.png", "confusion_matrix.png"}


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _plots(uri: str, run_id: str, folder: str, tmp_path) -> dict[str, bytes]:
    local = client_for(uri).download_artifacts(run_id, folder, str(tmp_path / run_id))
    from pathlib import Path

    return {p.name: p.read_bytes() for p in Path(local).glob("*.png")}


def _check_sensible(files: dict[str, bytes]) -> None:
    for name, data in files.items():
        width, height = _png_size(data)
        assert 300 <= width <= 2000 and 250 <= height <= 2000, (name, width, height)
        assert 2_000 < len(data) < 400_000, (name, len(data))


def test_image_run_has_first_layer_weights(image_store, tmp_path):
    uri = store_of(image_store)
    (run,) = all_runs(uri)
    files = _plots(uri, run.info.run_id, "plots", tmp_path)
    assert set(files) == RUN_PLOTS | {"first_layer_weights.png"}
    _check_sensible(files)


def test_sweep_children_and_parent_plots(sweep_store, tmp_path):
    uri = store_of(sweep_store)
    for run in all_runs(uri):
        if run.data.tags.get("nnexp.sweep") == "parent":
            files = _plots(uri, run.info.run_id, "summary", tmp_path)
            assert set(files) == {"val_loss_vs_lr.png"}
        else:
            files = _plots(uri, run.info.run_id, "plots", tmp_path)
            assert set(files) == {"loss_curves.png"}  # a child draws its loss curves alone
        _check_sensible(files)
