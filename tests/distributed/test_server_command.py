"""`python -m nnexp.server` refuses, in one line, a database whose Python driver is missing
(the server would otherwise die of it after its start-up). The command itself serving a sweep on
PostgreSQL is tests/distributed/test_postgres_server.py."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import run_inprocess

from nnexp.server import ServerError, check_driver


def test_a_missing_driver_is_named_with_the_extra_that_installs_one():
    with pytest.raises(ServerError) as error:
        check_driver("postgresql+pg8000://mlflow:pw@db-host/mlflow")
    assert error.value.code == 2
    assert str(error.value) == (
        "--backend-store-uri: postgresql+pg8000:// needs the Python driver 'pg8000', which is "
        "not installed: pip install -e '.[server]' installs psycopg, for postgresql+psycopg://")
    check_driver("postgresql+psycopg://mlflow@db-host/mlflow")  # the server extra's driver
    check_driver("sqlite:////tmp/mlflow.db")


def test_the_command_exits_2_with_one_line_and_starts_nothing(tmp_path):
    done = run_inprocess(["nnexp.server", "--backend-store-uri",
                          "mysql+mysqldb://mlflow:s3cret@db-host/mlflow", "--dir", "srv"],
                         cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "nnexp.server: error: --backend-store-uri: mysql+mysqldb:// needs the Python driver "
        "'MySQLdb', which is not installed: pip install -e '.[server]' installs psycopg, for "
        "postgresql+psycopg://")
    assert "s3cret" not in done.stdout + done.stderr
    assert not (tmp_path / "srv" / "server.log").exists()


class _Healthy(BaseHTTPRequestHandler):
    """Answers every GET 200 "OK", as an MLflow server's /health does."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def healthy_port():
    """A real listener on 127.0.0.1 answering /health like a running server."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("command", ["nnexp.server", "nnexp.ui"])
def test_a_busy_port_is_refused_in_one_line_not_reported_ready(command, healthy_port, tmp_path):
    """A second server on a port another one serves would find the first one answering and say
    "ready" (then die on its bind): the port is tested by binding it, before anything starts."""
    args = (["--dir", "srv"] if command == "nnexp.server"
            else ["--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"])
    done = run_inprocess([command, "--port", str(healthy_port), *args], cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    url = f"http://127.0.0.1:{healthy_port}"
    assert done.stderr.splitlines() == [
        f"{command}: error: --port: cannot listen on 127.0.0.1:{healthy_port} (Address already "
        f"in use); a server already answers {url} (if it serves the store you mean, use it: "
        f"tracking.uri={url}); choose another --port, or --port 0 for a free one"]
    assert "ready" not in done.stdout and "open:" not in done.stdout
    assert not (tmp_path / "srv" / "server.log").exists()  # no MLflow server was started
