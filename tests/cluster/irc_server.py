"""The scripted Twitch IRC server of the live-cluster test, run inside a pod of the cluster.

It is :class:`tests.support.fake_twitch.FakeTwitch` (the same script the ingest tests use) on
``0.0.0.0:6667``, plus a small HTTP control port (8080) so the test on the host can drive it:

* ``GET /clients``: JSON list of connections, each ``{"nick", "channels", "closed"}``;
* ``POST /broadcast`` with a text body: each line is sent to every joined client.

The pod mounts this file and fake_twitch.py from a ConfigMap and runs it with the project's
image (Python and nothing else needed).
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fake_twitch import FakeTwitch

IRC_PORT = 6667
CONTROL_PORT = 8080


def make_handler(twitch: FakeTwitch) -> type[BaseHTTPRequestHandler]:
    class Control(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/clients":
                self.send_error(404)
                return
            body = json.dumps(
                [
                    {"nick": c.nick, "channels": sorted(c.channels), "closed": c.closed.is_set()}
                    for c in list(twitch.clients)
                ]
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            if self.path != "/broadcast":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            lines = self.rfile.read(length).decode().splitlines()
            twitch.broadcast(line for line in lines if line)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    return Control


def main() -> None:
    twitch = FakeTwitch(address=("0.0.0.0", IRC_PORT))
    twitch.start()
    print(f"scripted Twitch IRC on :{IRC_PORT}, control on :{CONTROL_PORT}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", CONTROL_PORT), make_handler(twitch)).serve_forever()


if __name__ == "__main__":
    main()
