"""`python -m nnexp.gradcheck` says what it checked: a float32 config is also checked on the
float32 code path that training runs, and a bug only that path has fails the command."""

from __future__ import annotations

import numpy as np
from helpers import run_inprocess

from nnexp.engine import activations


def _rows(stdout: str) -> dict[str, list[str]]:
    """The table's rows by parameter name (between the header and the verdict, if any)."""
    return {line.split()[0]: line.split() for line in stdout.splitlines()
            if line.startswith("layer")}


def test_a_float32_config_is_also_checked_on_its_float32_code_path(tmp_path):
    proc = run_inprocess(["nnexp.gradcheck", "model.hidden=[6,4]", "model.activation=sigmoid"],
                         cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0]
    assert header.split()[:5] == ["parameter", "float64", "error", "status", "float32"]
    assert "(float32 network, 8 rows, eps 0.0001; tolerance float64 at 1e-06, float32 at 0.001)" \
        in header
    for name, row in _rows(proc.stdout).items():
        float64_error, float32_error = float(row[1]), float(row[3])
        assert row[2] == row[4] == "ok", row
        assert float64_error < 1e-6 and float32_error < 1e-3, row
        assert row[5] in ("float64:", "float32:") and row[6].startswith("["), row
        assert "scale" in row, name


def test_a_float64_config_is_checked_in_float64_only(tmp_path):
    proc = run_inprocess(["nnexp.gradcheck", "model.hidden=[5]", "model.dtype=float64"],
                         cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "float32" not in proc.stdout
    assert all(row[2] == "ok" for row in _rows(proc.stdout).values())


def test_a_bug_only_the_float32_path_has_fails_the_command(tmp_path, monkeypatch):
    real = activations.Tanh.backward

    def backward(self, grad, inplace=False):  # wrong by 5 % on the float32 path only
        out = real(self, grad, inplace)
        if out.dtype == np.float32:
            out *= np.float32(1.05)
        return out

    monkeypatch.setattr(activations.Tanh, "backward", backward)
    proc = run_inprocess(["nnexp.gradcheck", "model.hidden=[6,4]", "model.activation=tanh"],
                         cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    rows = _rows(proc.stdout)
    assert rows["layer1.weight"][2] == "ok" and rows["layer1.weight"][4] == "FAIL"
    assert rows["layer1.weight"][5] == "float32:"
    assert "gradient check failed for layer1.weight (float32)" in proc.stderr
    assert "(float64)" not in proc.stderr
