"""The sweep report in a real headless Chromium: it renders without a console error, makes no
network request, and its tables show the numbers the store holds. And a 1000-child report stays
under 5 MB (its render time: benchmarks/report_size.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from cdp import Browser
from helpers import all_runs, client_for, store_of

from nnexp.sweeps.report_data import SweepReport
from nnexp.sweeps.report_html import build_html

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None,
                                reason="chromium is not installed (apt-get install -y chromium)")

CELLS = """[...document.querySelectorAll('#children tbody tr')].map(tr =>
  [...tr.querySelectorAll('td')].map(td => [td.textContent, td.dataset.value ?? null]))"""
HEADER = "[...document.querySelectorAll('#children thead th')].map(th => th.textContent)"


def test_the_logged_report_renders_offline_with_the_stores_numbers(sweep_store, tmp_path):
    uri = store_of(sweep_store)
    runs = all_runs(uri)
    parent = next(r for r in runs if r.data.tags.get("nnexp.sweep") == "parent")
    children = {r.info.run_id: r for r in runs if r is not parent}
    page = Path(client_for(uri).download_artifacts(parent.info.run_id, "summary/report.html",
                                                   str(tmp_path)))
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(page.as_uri())
        header, rows = browser.evaluate(HEADER), browser.evaluate(CELLS)
        assert browser.requests() == [page.as_uri()]  # the page itself and nothing else
        assert browser.problems() == []
        assert browser.evaluate("document.querySelectorAll('svg').length") >= 4
    finally:
        browser.close()
    assert len(rows) == len(children) == 2
    at = {name: header.index(name) for name in ("val/loss", "test/accuracy", "run", "lr")}
    for row in rows:
        run = children[row[at["run"]][0]]
        assert row[at["lr"]][0] == run.data.params["lr"]
        for metric in ("val/loss", "test/accuracy"):
            shown, exact = row[at[metric]]
            assert float(exact) == run.data.metrics[metric]  # bit for bit
            assert shown == f"{run.data.metrics[metric]:.4g}"
    ranked = [children[r[at["run"]][0]].data.metrics["val/loss"] for r in rows]
    assert ranked == sorted(ranked)


def _big_report(n: int, epochs: int = 200) -> SweepReport:
    """A synthetic 1000-child sweep as read from the store: rows, curves and gradient norms."""
    rng = np.random.default_rng(0)
    rows, curves = [], {}
    for i in range(n):
        lr, width, seed = [0.3, 0.1, 0.03, 0.01, 0.003][i % 5], [8, 16, 32, 64][i // 5 % 4], i // 20
        value = float(1 / (1 + 10 * lr) + 0.01 * rng.normal())
        run_id = f"{i:032x}"
        rows.append({"run_name": f"lr={lr},model.hidden=[{width}],seed={seed}", "run_id": run_id,
                     "status": "FINISHED", "diverged": False, "pruned": "", "verdict": "healthy",
                     "kept_epoch": "", "lr": str(lr), "model.hidden": f"[{width}]",
                     "seed": str(seed), "val/loss": value, "test/accuracy": 1 - value})
        steps = np.arange(1, epochs + 1, dtype=np.float64)
        from nnexp.sweeps.report_data import CURVE_BUDGET, thin

        curves[run_id] = {k: thin(steps, value + np.exp(-steps / 30) + 0.01 * rng.random(epochs),
                                  CURVE_BUDGET // n) for k in ("train/loss", "val/loss")}
    rows.sort(key=lambda r: r["val/loss"])
    from nnexp.sweeps.mattered import what_mattered

    keys = ["lr", "model.hidden", "seed"]
    report = SweepReport("f" * 32, "sweep lr x5, model.hidden x4, seed x50", "FINISHED", keys,
                         "val/loss", "minimize", rows, keys, None, None,
                         what_mattered(rows, keys, "val/loss"))
    report.curves = curves
    steps = np.arange(0, 20000, 10, dtype=np.float64)
    report.grad_norms = {label: {f"layer{j}": thin(steps, rng.random(steps.size))
                                 for j in (1, 2)} for label in ("best", "worst")}
    return report


def test_a_thousand_children_report_stays_under_5_mb():
    html = build_html(_big_report(1000))
    assert len(html.encode()) <= 5_000_000
    assert html.count("<tr>") >= 1000 and "http://" not in html and "https://" not in html
