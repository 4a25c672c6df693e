"""``/metrics``, ``/healthz`` and ``/readyz`` on ``METRICS_PORT``, from a small thread.

The standard library's threading HTTP server is enough for a scrape every few seconds and
keeps the ingest free of a web framework.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Readiness = Callable[[], str | None]
"""None when ready, else a short reason naming what is missing."""


def serve(
    host: str, port: int, registry: CollectorRegistry, readiness: Readiness
) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; raises OSError when the port is taken."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._answer(200, b"ok\n")
            elif path == "/readyz":
                reason = readiness()
                if reason is None:
                    self._answer(200, b"ready\n")
                else:
                    self._answer(503, f"not ready: {reason}\n".encode())
            else:
                self._answer(404, b"not found\n")

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # scrapes are not news
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
