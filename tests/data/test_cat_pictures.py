"""`python -m nnexp.demo cat-pictures`: a drawn, seeded cat / not-cat picture set that the
cat_classifier experiment learns."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from helpers import run_inprocess
from PIL import Image

from nnexp.data.cat_pictures import write_cat_pictures
from nnexp.sweeps.job import run_job


def test_the_command_writes_a_class_per_folder_set_and_says_what_next(tmp_path):
    proc = run_inprocess(["nnexp.demo", "cat-pictures", "pics", "--per-class", "3", "--size", "40"],
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
    again = run_inprocess(["nnexp.demo", "cat-pictures", "pics"], cwd=tmp_path)
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


def test_the_pictures_go_to_the_cache_never_into_the_working_folder_or_a_repository(tmp_path):
    project = tmp_path / "project"  # a clone: every later run there records its git state
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    cache = tmp_path / "cache"
    proc = run_inprocess(["nnexp.demo", "cat-pictures", "--per-class", "2", "--size", "16"],
                         cwd=project, env={"XDG_CACHE_HOME": str(cache)})
    assert proc.returncode == 0, proc.stderr
    folder = cache / "nnexp" / "cat_pictures"
    assert len(list(folder.glob("*/*.png"))) == 4
    assert proc.stdout.splitlines()[1] == (
        "train on them: python -m nnexp.train experiment=cat_classifier")  # its default folder
    assert sorted(p.name for p in project.iterdir()) == [".git"]
    inside = run_inprocess(["nnexp.demo", "cat-pictures", "pics"], cwd=project)
    assert inside.returncode == 2 and not (project / "pics").exists()
    assert inside.stderr == (
        f"nnexp.demo: error: pics: inside the git repository {project.resolve()}, where every "
        "later run would record the pictures as uncommitted changes; give a folder outside it, "
        "or none (nnexp's cache)\n")
    other_seed = run_inprocess(["nnexp.demo", "cat-pictures", "--per-class", "1", "--seed", "1"],
                               cwd=project, env={"XDG_CACHE_HOME": str(cache)})
    assert other_seed.returncode == 0, other_seed.stderr
    assert len(list((cache / "nnexp" / "cat_pictures_seed1").glob("*/*.png"))) == 2


def test_the_preset_reads_the_demo_folder_of_the_cache(make_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cfg = make_cfg("experiment=cat_classifier")
    assert cfg.data.image_dir == str(tmp_path / "nnexp" / "cat_pictures")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # not absolute: ignored, as XDG says
    assert make_cfg("experiment=cat_classifier").data.image_dir == str(
        Path("~/.cache/nnexp/cat_pictures").expanduser())
    assert make_cfg("experiment=cat_classifier", "data.image_dir=mine").data.image_dir == "mine"


def test_the_cat_classifier_learns_the_drawn_pictures_and_ends_healthy(
        make_cfg, tmp_path, caplog):
    """The flagship demo as the README runs it (the default 200 + 200 pictures of 64x64): it
    learns, trains all its epochs, and its verdict is healthy (before: dead ReLU units or a
    training loss climbing back, and an early stop at epoch 25 of 40)."""
    folder = tmp_path / "pics"
    write_cat_pictures(folder)
    cfg = make_cfg("experiment=cat_classifier", f"data.image_dir={folder}", fast=False)
    caplog.set_level(logging.INFO, logger="nnexp")
    result = run_job(cfg, run_name="cats", verbose=True)
    assert result.metrics["test/accuracy"] >= 0.9, result.metrics  # 80 unseen pictures
    console = [r.getMessage() for r in caplog.records if r.name == "nnexp.console"]
    verdict = next(line for line in console if line.startswith("verdict: "))
    assert verdict.startswith("verdict: healthy: "), verdict
    assert any(line.startswith("done in ") and f"({cfg.train.epochs} epochs)" in line
               for line in console), console[-5:]
    assert not any(line.startswith("stopped early") for line in console)
