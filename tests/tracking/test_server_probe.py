"""The probe of a tracking server asks an API endpoint the way MLflow's client does (same Host
header, same credentials) and turns what no run could get past into one line; what may pass
(a server restarting) stays retryable. A real server's 403 is in tests/distributed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nnexp.tracking.store import StoreError, StoreUnavailable, probe_server
from nnexp.ui import free_port

INVALID_HOST = b"Invalid Host header - possible DNS rebinding attack detected"


class _Answer(BaseHTTPRequestHandler):
    """Answers /health with OK (as MLflow does for any Host) and the API with `status`."""

    status = 200
    body = b'{"experiments": []}'
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        status, body = (200, b"OK") if self.path == "/health" else (self.status, self.body)
        self.seen.append({"path": self.path, **dict(self.headers)})
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answering(monkeypatch) -> Iterator[type[_Answer]]:
    """A local HTTP server; set `status` and `body` on the yielded class to choose the answer."""
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    handler = type("Handler", (_Answer,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.port = server.server_address[1]
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def test_an_unlisted_host_name_is_one_line_naming_allowed_hosts(answering):
    answering.status, answering.body = 403, INVALID_HOST
    uri = f"http://localhost:{answering.port}"
    with pytest.raises(StoreError) as error:
        probe_server(uri)
    assert not isinstance(error.value, StoreUnavailable)  # waiting cannot mend a setting
    assert str(error.value) == (
        f"tracking.uri: the MLflow server at {uri} refuses the host name "
        f"'localhost:{answering.port}' (HTTP 403): start the server with --allowed-hosts "
        f"'localhost:{answering.port}' (a comma-separated list that replaces MLflow's default of "
        "localhost and private addresses: list every name clients use), or use an address it "
        "allows")
    (request,) = answering.seen  # not /health: that one passes for any Host
    assert request["path"].startswith("/api/2.0/mlflow/experiments/search")
    assert request["Host"] == f"localhost:{answering.port}"


def test_the_probe_sends_the_credentials_the_client_sends(answering, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret")
    probe_server(f"http://127.0.0.1:{answering.port}")
    assert answering.seen[0]["Authorization"] == "Basic YWxpY2U6czNjcmV0"  # alice:s3cret


@pytest.mark.parametrize(("status", "body", "unavailable", "expected"), [
    (401, b"", False, "asks for credentials (HTTP 401): set MLFLOW_TRACKING_USERNAME and "
                      "MLFLOW_TRACKING_PASSWORD"),
    (403, b'{"error_code": "PERMISSION_DENIED"}', False,
     'refuses access (HTTP 403: {"error_code": "PERMISSION_DENIED"})'),
    (404, b"Not Found", False, "has no MLflow tracking API (HTTP 404 for "
                               "/api/2.0/mlflow/experiments/search)"),
    (503, b"database is restarting", True, "cannot serve requests now (HTTP 503: database is "
                                           "restarting)"),
])
def test_refusals_are_one_line_and_only_outages_are_retried(answering, status, body,
                                                            unavailable, expected):
    answering.status, answering.body = status, body
    with pytest.raises(StoreError) as error:
        probe_server(f"http://bob:pw@127.0.0.1:{answering.port}")
    assert isinstance(error.value, StoreUnavailable) is unavailable
    assert expected in str(error.value)
    assert "pw" not in str(error.value).replace("bob:***", "")


def test_no_server_is_retryable_and_names_the_reason():
    uri = f"http://carol:hunter2@127.0.0.1:{free_port()}"
    with pytest.raises(StoreUnavailable) as error:
        probe_server(uri)
    assert str(error.value) == ("tracking.uri: no MLflow server answers at "
                                f"{uri.replace('hunter2', '***')} ([Errno 111] Connection refused)")
