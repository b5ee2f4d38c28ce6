"""Image-folder loading: shapes, classes, [0, 1] range, conversions with notes, `load_image`."""

import numpy as np
from PIL import Image

from nnexp.data import load_dataset, load_image, make_image_folder


def _rows(ds) -> np.ndarray:
    return np.concatenate([ds.X_train, ds.X_val, ds.X_test])


def test_generated_folder_loads(tmp_path) -> None:
    root = make_image_folder(tmp_path / "pets", per_class=8, size=(16, 16), seed=0)
    ds = load_dataset("images", rng_seed=0, image_dir=str(root), image_size=(16, 16))
    assert ds.task == "classification" and ds.class_names == ["cat", "not_cat"]
    assert ds.n_classes == 2 and ds.image_shape == (16, 16) and ds.n_features == 256
    assert ds.image_mode == "L" and ds.image_size == (16, 16)
    X = _rows(ds)
    assert X.shape == (16, 256) and X.dtype == np.float32
    assert X.min() >= 0.0 and X.max() <= 1.0 and X.max() > 0.5
    assert ds.scaler_mean is None and ds.scaler_std is None
    assert any("standardize ignored" in n for n in ds.notes)
    assert not any("converted" in n or "resized" in n for n in ds.notes)
    y = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    assert np.bincount(y).tolist() == [8, 8]


def test_classes_are_learnable_by_mean_brightness(tmp_path) -> None:
    root = make_image_folder(tmp_path / "pets", per_class=10, seed=3)
    ds = load_dataset("images", rng_seed=0, image_dir=str(root), image_size=(16, 16))
    X, y = _rows(ds), np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    cat, not_cat = X[y == 0].mean(axis=0), X[y == 1].mean(axis=0)
    assert np.abs(cat - not_cat).max() > 0.3


def test_rgb_non_square_shape_is_h_w_c(tmp_path) -> None:
    root = make_image_folder(tmp_path / "p", classes=("a", "b", "c"), per_class=4, size=(12, 8))
    ds = load_dataset(
        "images",
        rng_seed=0,
        image_dir=str(root),
        image_size=(12, 8),
        image_mode="RGB",
        dtype="float64",
    )
    assert ds.image_shape == (8, 12, 3) and ds.n_features == 8 * 12 * 3
    assert ds.image_size == (12, 8) and ds.class_names == ["a", "b", "c"]
    assert _rows(ds).dtype == np.float64
    assert any("converted 12 of 12 image(s) to mode RGB (from L x12)" in n for n in ds.notes)


def test_mixed_sizes_and_modes_converted_with_note(tmp_path) -> None:
    root = make_image_folder(tmp_path / "pets", per_class=4, size=(16, 16))
    Image.new("RGB", (40, 20), (200, 10, 10)).save(root / "cat" / "big_rgb.png")
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(root / "cat" / "transparent.png")
    Image.new("P", (8, 8)).save(root / "not_cat" / "palette.gif")
    Image.new("L", (10, 30), 128).save(root / "not_cat" / "tall.JPG")
    ds = load_dataset("images", rng_seed=0, image_dir=str(root), image_size=(16, 16))
    assert _rows(ds).shape == (12, 256)
    notes = " | ".join(ds.notes)
    assert "converted 3 of 12 image(s) to mode L (from P x1, RGB x1, RGBA x1)" in notes
    assert "resized 3 of 12 image(s) to 16x16 (from 10x30 x1, 40x20 x1, 8x8 x1)" in notes
    transparent = load_image(root / "cat" / "transparent.png", (16, 16), "L")
    assert np.all(transparent == 1.0)  # alpha is flattened onto white


def test_hidden_ignored_and_non_images_skipped_with_note(tmp_path) -> None:
    root = make_image_folder(tmp_path / "pets", per_class=4)
    (root / "cat" / "notes.txt").write_text("not a picture")
    (root / "cat" / ".DS_Store").write_bytes(b"\x00\x01junk")
    (root / ".hidden_class").mkdir()
    (root / ".hidden_class" / "x.png").write_bytes(b"junk")
    (root / "README.md").write_text("about the pets")
    (root / "not_cat" / "nested").mkdir()
    ds = load_dataset("images", rng_seed=0, image_dir=str(root), image_size=(16, 16))
    assert ds.class_names == ["cat", "not_cat"] and len(_rows(ds)) == 8
    notes = " | ".join(ds.notes)
    assert "skipped 1 non-image file(s): cat/notes.txt" in notes
    assert "ignored 1 file(s) directly in image_dir" in notes and "README.md" in notes
    assert "ignored 1 nested folder(s): not_cat/nested/" in notes
    assert ".DS_Store" not in notes and ".hidden_class" not in notes


def test_load_image_matches_training_rows(tmp_path) -> None:
    root = make_image_folder(tmp_path / "pets", per_class=4, size=(20, 20))
    ds = load_dataset("images", rng_seed=0, image_dir=str(root), image_size=(10, 10))
    rows = {r.tobytes() for r in _rows(ds)}
    for path in sorted(root.rglob("*.png")):
        one = load_image(path, (10, 10), "L", "float32")
        assert one.shape == (100,) and one.dtype == np.float32
        assert one.tobytes() in rows
        assert ds.read_image(path).tobytes() == one.tobytes()
        assert ds.preprocess(one).tobytes() == one.tobytes()
