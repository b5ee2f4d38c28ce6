"""Regenerate docs/sweep_runs_page.png: a small sweep in a temporary store, served by
`python -m nnexp.ui`, photographed by headless Chromium (run from the repository root)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from nnexp.ui import chromium_command, free_port, wait_healthy

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "docs" / "sweep_runs_page.png"
SWEEP = ["-m", "lr=0.3,0.1,0.03", "model.hidden=[32]", "train.epochs=10"]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="nnexp-shot-") as tmp:
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp}
        subprocess.run([sys.executable, "-m", "nnexp.train", *SWEEP], cwd=tmp, env=env,
                       check=True, capture_output=True)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "nnexp.ui", "--port", str(port)],
                                  cwd=tmp, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        try:
            if not wait_healthy(f"http://127.0.0.1:{port}", server):
                sys.exit("the MLflow UI did not start")
            page = None
            while page is None:
                found = re.search(r"runs: (\S+)", server.stdout.readline())
                page = found.group(1) if found else None
            OUTPUT.parent.mkdir(exist_ok=True)
            subprocess.run(chromium_command(page, Path(tmp) / "profile", screenshot=OUTPUT,
                                            window=(1280, 560)),
                           check=True, capture_output=True, timeout=90)
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
