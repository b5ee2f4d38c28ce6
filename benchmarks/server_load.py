"""What one run costs a tracking server: HTTP requests and bytes, by endpoint (issue 26).

An `mlflow server` (SQLite, its artifact proxy: uploads go through the server, as on a shared
server) runs on this machine behind a small counting proxy in this process, which forwards every
request and counts it, with the bytes sent and received (headers and bodies). Through it:

1. a sweep of 3 jobs (`python -m nnexp.train -m lr=...`, the default config, basic launcher):
   requests and bytes per child run (the parent's own requests, counted apart, are divided by
   the children too: what a default sweep costs a child);
2. a single run (`python -m nnexp.train`, the default config).

Both with plots (the default) and without (`tracking.plots=false`: plots are most of the
bytes). The reference is the code of another revision (default `main`), exported with
`git archive` into a temporary folder and run the same way in the same session; `--reference
none` measures only this tree. The issue's figures before this work: 43-45 requests, ~285 KB
a default run.

    python benchmarks/server_load.py                     # about 2 minutes
    python benchmarks/server_load.py --reference none
    python benchmarks/server_load.py --override tracking.metric_budget=34

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = "lr=0.01,0.005,0.002"
JOBS = 3
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection"}


RUN_ID = re.compile(r'"?(?:run_id|run_uuid|source_run_id)"?\s*[:=]\s*"?([0-9a-f]{32})')
IN_PATH = re.compile(r"/([0-9a-f]{32})/artifacts/")
MODEL_ID = re.compile(r"(m-[0-9a-f]{32})")


class Tally:
    """Requests and bytes (both ways) by endpoint and by whose they are: a sweep's child's own
    (its run id in the request: query, body, artifact path or logged model, until the child
    ended), the sweep's (the parent run's, and reading or completing a child after it ended),
    or shared (experiment lookups, searches)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[tuple[str, str, int, int]] = []  # (whose, endpoint, sent, received)
        self.children: set[str] = set()
        self.model_runs: dict[str, str] = {}  # logged model id -> its run
        self.ended: set[str] = set()  # children that ended: later requests are the sweep's

    def add(self, endpoint: str, request: bytes, answer: bytes, sent: int, received: int) -> None:
        with self.lock:
            text = request.decode("utf-8", "replace")
            found = RUN_ID.search(text) or IN_PATH.search(text)
            run = found.group(1) if found else None
            if endpoint == "POST runs/create":
                created = RUN_ID.search(answer.decode("utf-8", "replace"))
                run = created.group(1) if created else None
                if run and "mlflow.parentRunId" in text:
                    self.children.add(run)
            model = MODEL_ID.search(text) or MODEL_ID.search(answer.decode("utf-8", "replace"))
            if model and run:
                self.model_runs[model.group(1)] = run
            elif model:
                run = self.model_runs.get(model.group(1))
            whose = f"after {run}" if run in self.ended else run or ""
            self.rows.append((whose, endpoint, sent, received))
            if endpoint == "POST runs/update" and run and re.search(
                    r'"status":\s*"(FINISHED|FAILED|KILLED)"', text):
                self.ended.add(run)

    def take(self) -> tuple[list[tuple[str, str, int, int]], set[str]]:
        with self.lock:
            taken = (self.rows, self.children)
            self.rows, self.children, self.ended = [], set(), set()
        return taken


def endpoint(method: str, path: str) -> str:
    """`POST runs/log-batch`; artifact uploads and downloads without their paths."""
    path = path.split("?", 1)[0]
    if path.startswith("/api/2.0/mlflow-artifacts/artifacts"):
        return f"{method} artifact file"
    path = re.sub(r"/m-[0-9a-f]+", "/<id>", path.removeprefix("/api/2.0/mlflow/"))
    return f"{method} {path}"


def counting_proxy(upstream_port: int, tally: Tally) -> ThreadingHTTPServer:
    """A forwarding HTTP proxy on a free port that counts what passes through it."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            head_in = len(self.requestline) + 2 + len(bytes(self.headers))
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=300)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            upstream.close()
            self.send_response(answer.status, answer.reason)
            head_out = 0
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
                    head_out += len(key) + len(value) + 4
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            if not self.path.startswith("/health"):
                tally.add(endpoint(self.command, self.path),
                          self.path.encode() + b" " + body[:4000], data[:4000],
                          head_in + len(body), head_out + len(data) + 40)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def env(code: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "NNEXP_"))}
    return {**keep, "PYTHONPATH": str(code)}


def export(revision: str, into: Path) -> Path:
    """The package and configs of `revision`, from git, in `into`."""
    archive = into / "code.tar"
    with open(archive, "wb") as handle:
        subprocess.run(["git", "-C", str(ROOT), "archive", revision, "nnexp", "conf"],
                       stdout=handle, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def command(code: Path, cwd: Path, uri: str, experiment: str, args: list[str]) -> None:
    """`python -m nnexp.train ARGS` with `code` first on the path; exits on failure."""
    done = subprocess.run([sys.executable, "-m", "nnexp.train", *args, f"tracking.uri={uri}",
                           f"tracking.experiment={experiment}"], cwd=cwd, env=env(code),
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{args} failed:\n{done.stderr[-3000:]}")


def figures_of(rows: list[tuple[str, str, int, int]], runs: int) -> dict[str, float]:
    """Requests and KB per run, in all and by endpoint."""
    requests: Counter[str] = Counter()
    size: Counter[str] = Counter()
    for _, key, sent, received in rows:
        requests[key] += 1
        size[key] += sent + received
    return {"requests": len(rows) / runs, "kb": sum(size.values()) / runs / 1000,
            **{f"n {k}": v / runs for k, v in requests.items()},
            **{f"kb {k}": size[k] / runs / 1000 for k in requests}}


def measure(code: Path, cwd: Path, uri: str, tally: Tally, name: str,
            plots: bool, overrides: list[str]) -> dict[str, dict[str, float]]:
    """Requests and bytes a child of a JOBS-job sweep makes (its own; the parent's and the
    shared lookups apart, per child), and a single run, by endpoint."""
    extra = ([] if plots else ["tracking.plots=false"]) + overrides
    tally.take()
    command(code, cwd, uri, f"{name}-sweep-{plots}", ["-m", SWEEP, *extra])
    rows, children = tally.take()
    figures = {"sweep child": figures_of([r for r in rows if r[0] in children], JOBS),
               "sweep's own, per child": figures_of(
                   [r for r in rows if r[0] and r[0] not in children], JOBS),
               "sweep lookups, per child": figures_of([r for r in rows if not r[0]], JOBS)}
    command(code, cwd, uri, f"{name}-single-{plots}", extra)
    figures["single run"] = figures_of(tally.take()[0], 1)
    return figures


def show(label: str, figures: dict[str, dict[str, float]]) -> None:
    for kind, values in figures.items():
        print(f"{label}, {kind}: {values['requests']:.1f} requests, {values['kb']:.1f} KB")
        rows = sorted((k[2:] for k in values if k.startswith("n ")),
                      key=lambda k: -values[f"kb {k}"])
        for key in rows:
            print(f"    {values['n ' + key]:5.1f} x {key:<40} {values['kb ' + key]:7.1f} KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default="main",
                        help="git revision measured as the reference ('none': skip)")
    parser.add_argument("--plots", choices=("both", "with", "without"), default="both")
    parser.add_argument("--override", action="append", default=[],
                        help="an override given to every run measured, e.g. "
                             "tracking.metric_budget=34 (repeatable)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from nnexp.server import server_command, start_server, stop_server
    from nnexp.ui import free_port

    with tempfile.TemporaryDirectory(prefix="nnexp-load-bench-") as tmp:
        work = Path(tmp)
        codes = {"this tree": ROOT}
        if args.reference != "none":
            codes[f"reference ({args.reference})"] = export(args.reference,
                                                            Path(tempfile.mkdtemp(dir=work)))
        port = free_port()
        process = start_server(server_command(f"sqlite:///{work / 'mlflow.db'}", port,
                                              work / "artifacts"),
                               f"http://127.0.0.1:{port}", cwd=work, log=work / "server.log")
        tally = Tally()
        proxy = counting_proxy(port, tally)
        uri = f"http://127.0.0.1:{proxy.server_address[1]}"
        results: dict[str, dict[str, dict[str, float]]] = {}
        try:
            for code in codes.values():  # warm-up: the experiment, the server's caches
                command(code, work, uri, "warm", ["train.epochs=1", "tracking.plots=false"])
            for plots in {"both": (True, False), "with": (True,),
                          "without": (False,)}[args.plots]:
                for label, code in codes.items():
                    key = f"{label}, {'with' if plots else 'without'} plots"
                    results[key] = measure(code, work, uri, tally, label.split()[0], plots,
                                           args.override)
                    show(key, results[key])
        finally:
            proxy.shutdown()
            stop_server(process)
    print("issue 26's figures before this work: 43-45 requests, ~285 KB a default run")
    print(json.dumps({key: {kind: {"requests": round(v["requests"], 1), "kb": round(v["kb"], 1)}
                            for kind, v in figures.items()}
                      for key, figures in results.items()}))


if __name__ == "__main__":
    main()
