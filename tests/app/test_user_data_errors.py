"""A bad table, file or data setting on the command line: one line naming the column and the
row (or the key), exit code 2, no traceback, and no run in the store.

The cases run the real command line in-process (the same `main()` as `python -m nnexp.train`);
one runs it as a user does, in a subprocess."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import all_runs, run_inprocess

FAST = ["train.epochs=1", "model.hidden=[4]", "tracking.plots=false"]
GOOD = "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n"


def _csv(text: str):
    def make(folder: Path) -> Path:
        (folder / "t.csv").write_text(text)
        return folder / "t.csv"
    return make


def _npz(**arrays):
    def make(folder: Path) -> Path:
        np.savez(folder / "t.npz", **arrays)
        return folder / "t.npz"
    return make


CASES = [
    ("missing-value", _csv("a,b,y\n1,2,0\n3,,1\n5,6,0\n"), ["data=csv", "data.target=y"],
     r"data.path '.*t.csv' line 3, column 'b': missing value; nnexp does not fill in"),
    ("text-feature", _csv("a,b,y\n1,2,0\n3,x,1\n5,6,0\n"), ["data=csv", "data.target=y"],
     r"data.path '.*t.csv' line 3, column 'b': 'x' is not a number; a text column is one-hot "
     r"encoded when listed in data.categorical \(data.categorical=\[b\]\), or left out"),
    ("one-class", _csv("a,b,y\n1,2,0\n3,4,0\n5,6,0\n"), ["data=csv", "data.target=y"],
     r"data.target: column 'y' has one value \('0'\) in all 3 rows; classification needs at "
     r"least 2 classes"),
    ("named-twice", _csv("a,a,y\n1,2,0\n3,4,1\n5,6,0\n"), ["data=csv", "data.target=y"],
     r"data.path: '.*t.csv' line 1: column 'a' is named twice \(columns 1 and 2\); rename one"),
    ("target-not-in-file", _csv(GOOD), ["data=csv", "data.target=price"],
     r"data.target: column 'price' is not in '.*t.csv' \(its columns: a, b, y\)"),
    ("feature-not-in-file", _csv(GOOD), ["data=csv", "data.target=y", "data.features=[a,c]"],
     r"data.features: column 'c' is not in '.*t.csv' \(its columns: a, b, y\)"),
    ("no-header", _csv("1,2,0\n3,4,1\n"), ["data=csv", "data.target=y"],
     r"data.path: '.*t.csv' line 1 holds numbers, not column names"),
    ("no-target-given", _csv(GOOD), ["data=csv"],
     r"data.target: required for data=csv \(the column to predict\)"),
    ("no-such-file", None, ["data=csv", "data.target=y", "data.path={dir}/absent.csv"],
     r"data.path: file '.*absent.csv' does not exist"),
    ("bad-delimiter", _csv(GOOD), ["data=csv", "data.target=y", "data.delimiter=x"],
     r"data.delimiter: got 'x'; allowed: ',', ';', 'tab', '\|'"),
    ("bad-task", _csv(GOOD), ["data=csv", "data.target=y", "data.task=ranking"],
     r"data.task: got 'ranking'; allowed: classification, regression"),
    ("accuracy-of-regression", _csv("a,b,y\n1,2,0.5\n3,4,1.25\n5,6,2.75\n7,8,3.5\n"),
     ["data=csv", "data.target=y", "sweep.objective=val/accuracy"],
     r"sweep.objective: 'val/accuracy' is not logged by a regression run \(data 'csv'\); use "
     r"val/loss, or set data.task"),
    ("npz-without-X", _npz(features=np.zeros((4, 2)), y=np.array([0, 1, 0, 1])), ["data=npz"],
     r"data.path: '.*t.npz' has no array X \(it has: features, y\); expected X and y"),
    ("npz-one-class", _npz(X=np.zeros((4, 2)), y=np.zeros(4, dtype=int)), ["data=npz"],
     r"data.path: '.*t.npz' array y has one value \('0'\) in all 4 rows"),
]


def _call(args: list[str]) -> tuple[int, str]:
    from nnexp.train import main

    saved, err, code = sys.argv, io.StringIO(), 0
    sys.argv = ["nnexp.train", *args]
    try:
        with contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved
    return code, err.getvalue()


def _one_error_line(err: str, prog: str = "nnexp.train") -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(f"{prog}: error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], err
    assert "Traceback" not in err
    return errors[0]


@pytest.mark.parametrize(("make", "args", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_data_is_one_line_exit_2_and_no_run(make, args, expected, tmp_path, store_uri):
    given = [a.replace("{dir}", str(tmp_path)) for a in args]
    if make is not None:
        given.append(f"data.path={make(tmp_path)}")
    code, err = _call([*FAST, *given, f"tracking.uri={store_uri}",
                       f"hydra.run.dir={tmp_path}/out"])
    assert code == 2, err
    assert re.search(expected, _one_error_line(err)), err
    assert all_runs(store_uri) == []


def test_parquet_without_pyarrow_names_the_extra(tmp_path, store_uri, monkeypatch):
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as if it were not installed
    code, err = _call([*FAST, "data=parquet", f"data.path={tmp_path / 't.parquet'}",
                       "data.target=y", f"tracking.uri={store_uri}"])
    assert code == 2, err
    assert _one_error_line(err).endswith("data=parquet: needs pyarrow, which is not installed: "
                                         "pip install 'nnexp[parquet]'")
    assert all_runs(store_uri) == []


def test_the_command_line_refuses_a_text_column_in_one_line(tmp_path, store_uri):
    (tmp_path / "shop.csv").write_text("price,color,sold\n9.5,red,1\n7.25,blue,0\n8,red,1\n")
    done = run_inprocess(["nnexp.train", *FAST, "data=csv", "data.path=shop.csv",
                          "data.target=sold", f"tracking.uri={store_uri}"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert _one_error_line(done.stderr) == (
        f"nnexp.train: error: data.path '{tmp_path / 'shop.csv'}' line 2, column 'color': "
        "'red' is not a number; a text column is one-hot encoded when listed in "
        "data.categorical (data.categorical=[color]), or left out with data.features=[...]")
    assert all_runs(store_uri) == []
