"""What drawing a run's figures costs a single run and a sweep's child, in one process (issue 26).

A single run draws its loss curves, gradient norms and (classes) confusion matrix; a sweep's
child its loss curves alone (the parent draws the sweep's figures). The default config (digits)
is trained in this process with an observer that records nothing but asks for the run's files,
alternating single run and child; `draw_plots` is timed around its call. The first round, which
pays matplotlib's import, is left out; medians over the rounds.

    python benchmarks/child_plots.py [--rounds 7]

The last line is JSON with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir

import nnexp.experiment.run as run_module
from nnexp.config import register_configs
from nnexp.experiment.observer import RunObserver
from nnexp.experiment.run import run_experiment

ROOT = Path(__file__).resolve().parents[1]
CHILD_OF = "0" * 32  # a parent run id: the run records as a sweep's child


class FilesOnly(RunObserver):
    """Asks for the run's files (weights, history, plots) and keeps none of them."""

    records_files = True


def timed_drawing() -> list[float]:
    """Wrap the run's `draw_plots` so every call's seconds land in the returned list."""
    seconds: list[float] = []
    draw = run_module.draw_plots

    def timed(*args: Any, **kwargs: Any) -> Path:
        start = time.perf_counter()
        try:
            return draw(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - start)

    run_module.draw_plots = timed
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config")
    seconds = timed_drawing()
    figures: dict[str, list[float]] = {"single": [], "child": []}
    for round_ in range(args.rounds + 1):
        for kind, parent in (("single", None), ("child", CHILD_OF)):
            run_experiment(cfg, FilesOnly(), run_name="plots", parent_run_id=parent,
                           verbose=False)
            if round_:  # the first pays matplotlib's import
                figures[kind].append(seconds[-1])
    med = {kind: statistics.median(values) for kind, values in figures.items()}
    print(f"drawing a single run's figures: {med['single'] * 1000:.0f} ms, a sweep child's: "
          f"{med['child'] * 1000:.0f} ms ({med['child'] / med['single']:.2f}x), medians of "
          f"{args.rounds} rounds")
    print(json.dumps({"single_s": med["single"], "child_s": med["child"],
                      "rounds": args.rounds}))


if __name__ == "__main__":
    main()
