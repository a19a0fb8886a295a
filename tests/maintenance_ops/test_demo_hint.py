"""What ``make demo`` says about the maintenance pages in the Airflow UI."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from maintenance_ops.demo import fleet_page_hint


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        code = 200 if self.path == "/api/v2/monitor/health" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


def test_the_fleet_url_is_printed_when_an_api_server_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        monkeypatch.setenv("AIRFLOW_API_URL", url)
        assert fleet_page_hint() == (
            f"Maintenance pages (fleet, databases, run reports): {url}/mysql-maintenance/fleet"
        )
    finally:
        server.shutdown()
        server.server_close()


def test_without_an_api_server_it_says_how_to_start_one(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_API_URL", f"http://127.0.0.1:{port}")
    hint = fleet_page_hint(timeout_s=1.0)
    assert hint.startswith(f"Maintenance pages: no api-server answers at http://127.0.0.1:{port}")
    assert "`airflow api-server`" in hint and "/mysql-maintenance/fleet" in hint
