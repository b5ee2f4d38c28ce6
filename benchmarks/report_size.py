"""Size and render time of the report of a 1000-child sweep (`python -m nnexp.report`).

Writes a synthetic sweep into a temporary SQLite store with MlflowClient (no training): a parent
and N children (lr x width x seed), each with params, final metrics and a `metrics/history.npz`
of E epochs and per-step gradient norms, as a trained child has. Then reads it back and builds
the page as the sweep's end does (`read_sweep`, `build_html`), and opens it in headless Chromium
over DevTools: the seconds from navigating to the load event, against a reference measured in
the same run (an empty page), the network requests beyond the page itself and console problems.

Run: python benchmarks/report_size.py [--children 1000] [--epochs 50]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ui"))
from cdp import Browser  # noqa: E402

from nnexp.record import tags  # noqa: E402

LRS, WIDTHS = ("0.3", "0.1", "0.03", "0.01", "0.003"), ("[8]", "[16]", "[32]", "[64]")


def history(rng: np.random.Generator, final: float, epochs: int, steps_per_epoch: int = 20
            ) -> bytes:
    """A `metrics/history.npz` as `History.save` writes it."""
    arrays = {}
    epoch_steps = np.arange(1, epochs + 1) * steps_per_epoch
    curve = final + np.exp(-np.arange(1, epochs + 1) / 10) + 0.01 * rng.random(epochs)
    for key, values in (("epoch", np.arange(1, epochs + 1, dtype=np.float64)),
                        ("train/loss", curve * 0.9), ("val/loss", curve)):
        arrays[f"step/{key}"], arrays[f"value/{key}"] = epoch_steps, values
        arrays[f"time/{key}"] = epoch_steps * 0.01
    steps = np.arange(0, epochs * steps_per_epoch, 2)
    for layer in ("layer1", "layer2"):
        arrays[f"step/grad_norm/{layer}"] = steps
        arrays[f"value/grad_norm/{layer}"] = rng.random(steps.size)
        arrays[f"time/grad_norm/{layer}"] = steps * 0.01
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def write_sweep(client, n: int, epochs: int, folder: Path) -> str:  # noqa: ANN001
    from mlflow.entities import Metric, Param

    experiment = client.create_experiment("big", artifact_location=str(folder / "artifacts"))
    parent = client.create_run(experiment, run_name="sweep lr x5, model.hidden x4, seed x50",
                               tags={tags.SWEEP: "parent", tags.SWEEP_PARAMS:
                                     "lr,model.hidden,seed", tags.SWEEP_OBJECTIVE: "val/loss",
                                     tags.SWEEP_DIRECTION: "minimize"}).info.run_id

    def child(i: int) -> None:
        rng = np.random.default_rng(i)
        lr, width, seed = LRS[i % 5], WIDTHS[i // 5 % 4], str(i // 20)
        overrides = f"lr={lr} model.hidden={width} seed={seed}"
        run = client.create_run(experiment, run_name=overrides.replace(" ", ","), tags={
            tags.MLFLOW_PARENT_RUN_ID: parent, tags.OVERRIDES: overrides,
            tags.VERDICT: "healthy"}).info.run_id
        final = float(1 / (1 + 10 * float(lr)) + 0.02 * rng.normal())
        now = int(time.time() * 1000)
        client.log_batch(run, metrics=[Metric(k, v, now, epochs) for k, v in (
            ("val/loss", final), ("train/loss", final * 0.9), ("test/accuracy", 1 - final / 2))],
            params=[Param("lr", lr), Param("model.hidden", width), Param("seed", seed)])
        path = folder / "h" / run / "history.npz"
        path.parent.mkdir(parents=True)
        path.write_bytes(history(rng, final, epochs))
        client.log_artifact(run, str(path), "metrics")
        client.set_terminated(run, "FINISHED")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(child, range(n)))
    client.set_terminated(parent, "FINISHED")
    return parent


def render(page: Path, profile: Path) -> tuple[float, float, list[str], list[str]]:
    """(seconds to load the report, seconds to load an empty page, requests, problems)."""
    empty = page.with_name("empty.html")
    empty.write_text("<!DOCTYPE html><title>empty</title>")
    browser = Browser(profile)
    try:
        browser.open(empty.as_uri())
        reference = browser.open(empty.as_uri())
        seconds = browser.open(page.as_uri())
        return seconds, reference, browser.requests(), browser.problems()
    finally:
        browser.close()


def main() -> None:
    from mlflow.tracking import MlflowClient

    from nnexp.sweeps.report_data import read_sweep, save
    from nnexp.sweeps.report_html import build_html

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nnexp-report-bench-") as tmp:
        folder = Path(tmp)
        client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
        start = time.perf_counter()
        parent = write_sweep(client, args.children, args.epochs, folder)
        written = time.perf_counter() - start
        start = time.perf_counter()
        report = read_sweep(client, parent)
        read = time.perf_counter() - start
        start = time.perf_counter()
        page = save(folder / "report.html", build_html(report))
        built = time.perf_counter() - start
        seconds, reference, requests, problems = render(page, folder / "profile")
        size = page.stat().st_size
    print(f"{args.children} children, {args.epochs} epochs each (store written in {written:.1f} s)")
    print(f"read from the store {read:.1f} s, page built {built:.2f} s")
    print(f"report size {size / 1e6:.2f} MB (bound 5 MB)")
    print(f"render in headless Chromium: {seconds:.2f} s to the load event (bound 2 s); an empty "
          f"page in the same browser: {reference:.3f} s")
    print(f"network requests beyond the page itself: {len(requests) - 1}; console problems: "
          f"{len(problems)}")


if __name__ == "__main__":
    main()
