"""The data module stays free of config/tracking libraries (numpy, scikit-learn, Pillow only)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_hydra_omegaconf_mlflow_imports() -> None:
    code = (
        "import sys, nnexp.data; "
        "bad = [m for m in ('hydra', 'omegaconf', 'mlflow') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
