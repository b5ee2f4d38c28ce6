"""`python -m nnexp.predict RUN_ID picture.png` answers with class names; mistakes exit 2."""

from __future__ import annotations

from helpers import all_runs, run_inprocess, store_of


def test_predict_names_the_class_of_a_picture(image_store):
    (run,) = all_runs(store_of(image_store))
    answers = {}
    for cls in ("cat", "not_cat"):
        done = run_inprocess(["nnexp.predict", run.info.run_id,
                              str(image_store / "pictures" / cls / f"{cls}_000.png")],
                             cwd=image_store)
        assert done.returncode == 0, done.stderr[-2000:]
        answers[cls] = done.stdout.strip()
    for cls, line in answers.items():
        predicted, _, ranked = line.partition("  ")
        assert predicted == cls, line  # a training picture of an easy, separable set
        assert "cat " in ranked and "not_cat " in ranked, line


def test_predict_unknown_run_and_unreadable_file_exit_2(image_store):
    (run,) = all_runs(store_of(image_store))
    bad = image_store / "not_an_image.png"
    bad.write_text("hello")
    cases = [(["nosuchrun", str(image_store / "pictures" / "cat" / "cat_000.png")], "not found"),
             ([run.info.run_id, str(bad)], "cannot read image"),
             ([run.info.run_id, str(image_store / "missing.png")], "no such file")]
    for args, message in cases:
        done = run_inprocess(["nnexp.predict", *args], cwd=image_store)
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("nnexp.predict: error:") and message in line, line
