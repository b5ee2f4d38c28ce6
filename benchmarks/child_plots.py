"""What drawing a run's figures costs, against the matplotlib figures nnexp drew before (issue 26).

A single run draws its loss curves, gradient norms and (classes) confusion matrix; a sweep's
child its loss curves alone (the parent draws the sweep's figures). The default config (digits)
is trained once in this process; its history, test predictions and class names are then drawn,
in alternating rounds, by this tree's `nnexp.record.run_plots` (Pillow) and by the matplotlib
functions of an older revision's `nnexp/record/plots.py` (default 179c076, exported with `git
archive`). The first drawing of each is timed apart (it pays the imports: matplotlib's, PIL's
fonts); then medians over the rounds, and the PNGs' bytes.

    python benchmarks/child_plots.py [--rounds 7] [--before REV]

`--long` draws a 1500-epoch run's history instead (`train.epochs=1500`, every step logged).
The last line is JSON with the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir

import nnexp.experiment.run as run_module
from nnexp.config import register_configs
from nnexp.experiment.loop import predicted_classes
from nnexp.experiment.observer import RunObserver
from nnexp.experiment.run import run_experiment
from nnexp.record import run_plots

ROOT = Path(__file__).resolve().parents[1]


class FilesOnly(RunObserver):
    """Asks for the run's files (weights, history, plots) and keeps none of them."""

    records_files = True


def trained(overrides: list[str]) -> dict[str, Any]:
    """Train the default config in this process; what `draw_plots` was given."""
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    given: dict[str, Any] = {}

    def keep(folder: Path, history, dataset, model, best_epoch, classify, only_loss=False):
        given.update(history=history, dataset=dataset, model=model, best_epoch=best_epoch)
        folder.mkdir()
        return folder

    run_module.draw_plots = keep
    run_experiment(cfg, FilesOnly(), run_name="plots", verbose=False)
    return given


def old_plots(revision: str, folder: Path) -> Any:
    """`nnexp/record/plots.py` of `revision`, loaded as a module of its own."""
    archive = folder / "before.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), revision,
                    "nnexp/record/plots.py"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    spec = importlib.util.spec_from_file_location("plots_before", folder / "nnexp/record/plots.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def drawers(given: dict[str, Any], before: Any, out: Path) -> dict[str, Any]:
    """kind -> function drawing that kind's figures into `out`, returning their bytes."""
    history, dataset = given["history"], given["dataset"]
    epochs = history.series("epoch")[1].astype(int)
    arrays = {k: (epochs, history.series(k)[1]) for k in ("train/loss", "val/loss")}
    grads = {k: history.series(k) for k in history.keys() if k.startswith("grad_norm/")}
    lists = {k: list(zip(a.tolist(), b.tolist(), strict=True)) for k, (a, b) in arrays.items()}
    predicted = predicted_classes(given["model"].predict(dataset.X_test))
    y, names, best = dataset.y_test, dataset.class_names, given["best_epoch"]

    def sizes(*paths: Path) -> int:
        return sum(p.stat().st_size for p in paths)

    def now_single() -> int:
        return sizes(run_plots.loss_curves(arrays, out / "a.png", best),
                     run_plots.gradient_norms(grads, out / "b.png"),
                     run_plots.confusion_matrix(y, predicted, names, out / "c.png"))

    def before_single() -> int:
        return sizes(before.loss_curves(lists, out / "a.png", best),
                     before.gradient_norms({k: history.points(k) for k in grads}, out / "b.png"),
                     before.confusion_matrix(y, predicted, names, out / "c.png"))

    return {"now single": now_single, "before single": before_single,
            "now child": lambda: sizes(run_plots.loss_curves(arrays, out / "a.png", best)),
            "before child": lambda: sizes(before.loss_curves(lists, out / "a.png", best))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--before", default="179c076")
    parser.add_argument("--long", action="store_true")
    args = parser.parse_args()
    long = ["train.epochs=1500", "tracking.log_every_n_steps=1"] if args.long else []
    given = trained(long)
    with tempfile.TemporaryDirectory(prefix="nnexp-plots-") as tmp:
        draw = drawers(given, old_plots(args.before, Path(tmp)), Path(tmp))
        seconds: dict[str, list[float]] = {kind: [] for kind in draw}
        first, size = {}, {}
        for round_ in range(args.rounds + 1):
            for kind, function in draw.items():
                start = time.perf_counter()
                size[kind] = function()
                elapsed = time.perf_counter() - start
                if round_:
                    seconds[kind].append(elapsed)
                else:
                    first[kind] = elapsed
    med = {kind: statistics.median(values) for kind, values in seconds.items()}
    for kind in ("single", "child"):
        now, before = med[f"now {kind}"], med[f"before {kind}"]
        print(f"{kind}: Pillow {now * 1000:.1f} ms ({size[f'now {kind}'] / 1000:.1f} KB), "
              f"matplotlib ({args.before}) {before * 1000:.1f} ms "
              f"({size[f'before {kind}'] / 1000:.1f} KB): {before / now:.0f}x faster; first "
              f"drawing in the process {first[f'now {kind}'] * 1000:.0f} ms vs "
              f"{first[f'before {kind}'] * 1000:.0f} ms")
    print(json.dumps({"median_s": med, "first_s": first, "bytes": size,
                      "rounds": args.rounds, "long": args.long}))


if __name__ == "__main__":
    main()
