"""Regenerate docs/sweep_runs_page.png: a small sweep in a temporary store, served by
`python -m nnexp.ui`, photographed by headless Chromium with the sweep expanded.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`, standard
library only): it closes the assistant panel and expands the sweep's parent row, which a plain
`--screenshot` cannot do. Run from the repository root: `python scripts/readme_screenshot.py`.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nnexp.ui import free_port, wait_healthy

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "docs" / "sweep_runs_page.png"
SWEEP = ["-m", "lr=0.3,0.1,0.03", "model.hidden=[32]", "train.epochs=10"]
WINDOW = (1280, 560)
PREPARE_PAGE = """(() => {
  const close = document.querySelector(
    'button[data-component-id="mlflow.assistant.chat_panel.close"]');
  if (close) close.click();
  const expand = document.querySelector('button[data-component-id$="runnamecellrenderer.tsx_46"]');
  if (expand) expand.click();
  return Boolean(expand);
})()"""


class DevToolsPipe:
    """A headless Chromium page, commanded with DevTools messages over fds 3 and 4."""

    def __init__(self, profile: str) -> None:
        to_chrome, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome = os.pipe()

        def give_fds_3_and_4() -> None:  # in the child: move the pipe ends out of the way first
            reading = fcntl.fcntl(to_chrome, fcntl.F_DUPFD, 10)
            writing = fcntl.fcntl(from_chrome, fcntl.F_DUPFD, 10)
            os.dup2(reading, 3)  # dup2 leaves the copies inheritable across exec
            os.dup2(writing, 4)

        browser = shutil.which("chromium") or "chromium"
        self.process = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--disable-background-networking", "--no-first-run", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
             f"--window-size={WINDOW[0]},{WINDOW[1]}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=give_fds_3_and_4, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer = b""
        self._last_id = 0
        self.session: str | None = None

    def call(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True
             ) -> dict[str, Any]:
        """Send one command and return its result (events in between are skipped)."""
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params or {}}
        if page and self.session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, page=False)
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target["targetId"], "flatten": True},
                                 page=False)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride", {"width": WINDOW[0], "height": WINDOW[1],
                                                          "deviceScaleFactor": 1, "mobile": False})
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result["result"].get("value")

    def wait_for_text(self, text: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        probe = f"!!document.body && document.body.innerText.includes({json.dumps(text)})"
        while not self.evaluate(probe):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never showed {text!r}")
            time.sleep(0.5)

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", page=False)
        except RuntimeError:
            pass
        self.process.wait(timeout=15)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="nnexp-shot-") as tmp:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
               **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}  # this nnexp
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
                found = re.search(r"^open: (\S+)", server.stdout.readline())
                page = found.group(1) if found else None
            browser = DevToolsPipe(str(Path(tmp) / "profile"))
            try:
                browser.open(page)
                browser.wait_for_text("sweep lr")
                if not browser.evaluate(PREPARE_PAGE):
                    sys.exit("found no expand button on the sweep's row")
                browser.wait_for_text("lr=0.03")
                time.sleep(1.5)  # let the expanded rows finish rendering
                OUTPUT.parent.mkdir(exist_ok=True)
                browser.screenshot(OUTPUT)
            finally:
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
