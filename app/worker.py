"""gunicorn's gevent worker, plus a graceful goodbye to every Socket.IO client on SIGTERM.

Plain gunicorn waits ``graceful_timeout`` for open connections to finish, but a WebSocket
never finishes by itself: without this the pod would sit until it is killed, and its members
would linger in presence. Here SIGTERM makes the app close every connection at once (members
are removed and announced as leaving); clients reconnect to another replica.
"""

from __future__ import annotations

from typing import Any

import gevent
from gunicorn.workers.ggevent import GeventWorker


class GracefulGeventWorker(GeventWorker):
    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        livechat = getattr(self.wsgi, "extensions", {}).get("livechat")
        if livechat is not None:
            gevent.spawn(livechat.shutdown)
