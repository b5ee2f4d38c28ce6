"""`python -m nnexp.demo cat-pictures`: a drawn, seeded cat / not-cat picture set that the
cat_classifier experiment learns."""

from __future__ import annotations

from helpers import run_cli
from PIL import Image

from nnexp.data.cat_pictures import write_cat_pictures
from nnexp.sweeps.job import run_job


def test_the_command_writes_a_class_per_folder_set_and_says_what_next(tmp_path):
    proc = run_cli(["nnexp.demo", "cat-pictures", "pics", "--per-class", "3", "--size", "40"],
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"wrote 3 cat and 3 not_cat pictures (40x40 PNG, seed 0) to {tmp_path / 'pics'} "
        "(cat/, not_cat/)",
        "train on them: python -m nnexp.train experiment=cat_classifier data.image_dir=pics",
        "or ask a trained run about them: python -m nnexp.predict RUN_ID pics"]
    for label in ("cat", "not_cat"):
        files = sorted((tmp_path / "pics" / label).glob("*.png"))
        assert len(files) == 3
        with Image.open(files[0]) as picture:
            assert picture.size == (40, 40) and picture.mode == "RGB"
    (tmp_path / "pics" / "notes.txt").write_text("mine")
    again = run_cli(["nnexp.demo", "cat-pictures", "pics"], cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr == ("nnexp.demo: error: pics: already holds notes.txt; give a new folder "
                            "(a training folder must hold only one sub-folder per class)\n")


def test_same_seed_same_pictures_other_seed_new_ones(tmp_path):
    write_cat_pictures(tmp_path / "a", per_class=2, size=24, seed=0)
    write_cat_pictures(tmp_path / "b", per_class=2, size=24, seed=0)
    write_cat_pictures(tmp_path / "c", per_class=2, size=24, seed=1)
    a = sorted((tmp_path / "a" / "cat").iterdir())
    b = sorted((tmp_path / "b" / "cat").iterdir())
    c = sorted((tmp_path / "c" / "cat").iterdir())
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert {p.read_bytes() for p in a}.isdisjoint(p.read_bytes() for p in c)


def test_the_cat_classifier_learns_the_drawn_pictures(make_cfg, tmp_path):
    folder = tmp_path / "pics"
    write_cat_pictures(folder, per_class=200, size=32)  # measured: 0.96-1.0 over 5 seeds
    cfg = make_cfg("experiment=cat_classifier", f"data.image_dir={folder}",
                   "tracking.enabled=false", fast=False)
    result = run_job(cfg, run_name="cats", verbose=False)
    assert result.metrics["test/accuracy"] >= 0.9, result.metrics  # 80 unseen pictures
