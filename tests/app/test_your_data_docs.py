"""docs/your-data.md runs as written: its Python and shell examples, in order, in an empty
folder with the default store, and they print what the page says they print.

One interpreter runs the whole page, as a notebook would: Python blocks share their names, and
each `python -m nnexp.X ...` line runs that command's `main()` with its arguments (the command
line's own code, without an interpreter start per line)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import REPO, all_runs, clean_env, run_inprocess, store_of

PAGE = REPO / "docs" / "your-data.md"

DRIVER = r"""
import contextlib, importlib, io, json, re, shlex, sys
results, names, run_id = [], {}, None
for language, code in json.loads(sys.argv[1]):
    out, err, code_run = io.StringIO(), io.StringIO(), code.replace("RUN_ID", str(run_id))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if language == "python":
            exec(code_run, names)
        for line in code_run.strip().splitlines() if language == "bash" else []:
            words = shlex.split(line)
            assert words[:2] == ["python", "-m"], line
            sys.argv = [words[2], *words[3:]]
            try:
                importlib.import_module(words[2]).main()
            except SystemExit as exc:
                assert not exc.code, (line, err.getvalue())
    found = re.findall(r"run ([0-9a-f]{32}) recorded", out.getvalue())
    if found and "categorical" in code:
        run_id = found[-1]
    results.append([code, out.getvalue(), err.getvalue()])
print("RESULTS" + json.dumps(results))
"""


def examples() -> list[tuple[str, str]]:
    """(language, code) of the page's python and bash blocks, in order."""
    return re.findall(r"```(python|bash)\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def test_every_example_of_your_data_runs(tmp_path: Path, _migrated_store: Path):
    (tmp_path / "mlruns").mkdir()
    shutil.copy(_migrated_store, tmp_path / "mlruns" / "mlflow.db")
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(examples())], cwd=tmp_path,
                          env=clean_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = json.loads(done.stdout.split("RESULTS", 1)[1])
    text = "\n".join(out + err for _, out, err in outputs)
    assert ("note: data.task: classification, inferred from column 'sold' (text values)"
            in text)
    predicted = next((out, err) for code, out, err in outputs if "nnexp.predict" in code)
    assert predicted[1] == "note: ignored 1 column(s) the run did not train on: street\n"
    assert len(predicted[0].split()) == 3 and all(float(v) > 0 for v in predicted[0].split())
    runs = [r for r in all_runs(store_of(tmp_path)) if "dataset.name" in r.data.params]
    names = sorted(r.data.params["dataset.name"] for r in runs)
    assert names == ["arrays", "arrays", "arrays", "csv", "csv", "csv", "dataframe", "npz",
                     "parquet"], names
    assert all(r.info.status == "FINISHED" for r in runs)


def test_the_refusal_the_page_shows_is_what_the_command_says(tmp_path: Path):
    shown = re.search(r"```text\n(nnexp.train: error: data.path '\.\.\./houses.csv'.*?)\n```",
                      PAGE.read_text(), flags=re.DOTALL).group(1)
    python = examples()[0][1]
    exec(compile(python, str(PAGE), "exec"), {})  # writes houses.csv here (conftest's chdir)
    assert (tmp_path / "houses.csv").is_file()
    done = run_inprocess(["nnexp.train", "data=csv", "data.path=houses.csv", "data.target=price",
                          "tracking.enabled=false"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == shown.replace("...", str(tmp_path), 1)
