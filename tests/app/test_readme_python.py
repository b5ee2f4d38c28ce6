"""The Python examples of the README and docs/python-api.md run as written, in a fresh
interpreter (as a notebook would run its cells in order), and do what the pages say they do."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import REPO, clean_env, client_for

# The README's example, then the page that continues its session (docs/python-api.md).
SOURCES = (("README.md", "## 5. From Python (a notebook, a script)"),
           ("docs/python-api.md", None))

CHECKS = """
assert result.status == "FINISHED" and result.model_uri.startswith("models:/")
assert sweep.status == "FINISHED" and len(sweep.runs) == 2 and sweep.best in sweep.runs
assert nested.experiment == "from-a-notebook"
assert losses[-1] < 1e-3, losses[-1]
weights = line.named_parameters()
assert abs(float(weights["layer1.weight"][0, 0]) - 2) < 0.05, weights
assert abs(float(weights["layer1.bias"][0]) + 1) < 0.05, weights
print("README-RESULTS", result.run_id, nested.run_id)
"""


def readme_python(sources: tuple[tuple[str, str | None], ...] = SOURCES) -> str:
    """The ```python blocks of each (file, section) in order, as one script (section None: the
    whole file)."""
    blocks = []
    for name, heading in sources:
        body = (REPO / name).read_text()
        if heading is not None:
            body = body.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
        found = re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)
        assert found, f"no Python examples found in {name} {heading or ''}"
        blocks += found
    return "\n".join(blocks)


def test_readme_python_examples_run(tmp_path: Path, _migrated_store: Path):
    # the two stores the examples use, created ahead (a new store's migrations take seconds)
    (tmp_path / "mlruns").mkdir()
    shutil.copy(_migrated_store, tmp_path / "mlruns" / "mlflow.db")
    shutil.copy(_migrated_store, tmp_path / "notebook.db")
    done = subprocess.run([sys.executable, "-c", readme_python() + CHECKS], cwd=tmp_path,
                          env=clean_env(), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "epoch 20/20" in done.stdout  # the run's lines, through logging, with none set up
    run_id, nested_id = done.stdout.split("README-RESULTS ")[1].split()
    # the stores' files only (notebook.db's lock and journal are in nnexp's cache); no outputs/
    assert {p.name for p in tmp_path.iterdir()} <= {"mlruns", "notebook.db"}

    nested = client_for(f"sqlite:///{tmp_path / 'notebook.db'}").get_run(nested_id)
    study = nested.data.tags["mlflow.parentRunId"]
    parent = client_for(f"sqlite:///{tmp_path / 'notebook.db'}").get_run(study)
    assert (parent.info.run_name, parent.data.metrics) == ("my study", {"my_own_metric": 1.0})
    run = client_for(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}").get_run(run_id)
    assert run.data.params["train.batch_size"] == "16"
