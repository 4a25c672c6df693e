"""Two real chat server processes (gunicorn, gevent worker) sharing one private Redis, and
what the replica tests observe of them (their fixtures are in this folder's conftest.py).

Every pair gets its own Redis on a free port: Redis pub/sub channels are global to a server
(not per database), so two pairs on one Redis would hear each other's events, and the outage
and quiet-room tests need a Redis nobody else touches.

The quiet-room check needs a minute of silence; its pair starts with the first test of this
folder (a session fixture) and is checked by ``test_silence.py``, which sorts last, so the
minute passes while the other tests run.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests

from tests.support.clients import RecordingClient
from tests.support.procs import ARTIFACTS, ChatServer, Service, wait_until

#: Fast senders in these tests are not floods; everything else is the production default.
SERVER_ENV = {
    "RATE_LIMIT_MESSAGES": "1000",
    "RATE_LIMIT_BURST": "1000",
    "KAFKA_BOOTSTRAP_SERVERS": "",
}
QUIET_SECONDS = 60.0
FIGURES = ARTIFACTS / "replicas-figures.json"


class Replicas:
    """A private Redis, replicas ``a`` and ``b`` on it, and the clients a test opened."""

    def __init__(self, **env: str) -> None:
        self.redis = Service("redis").start()
        self.redis_url = f"redis://127.0.0.1:{self.redis.port}/0"
        self.env = {**SERVER_ENV, "REDIS_URL": self.redis_url, **env}
        self.a = ChatServer(self.env).start()
        self.b = ChatServer(self.env).start()
        self.clients: list[RecordingClient] = []

    def client(self, server: ChatServer) -> RecordingClient:
        client = RecordingClient(server.url)
        self.clients.append(client)
        return client

    def joined(self, server: ChatServer, room: str, username: str) -> RecordingClient:
        """A client on ``server`` that has joined ``room`` and got its history."""
        client = self.client(server)
        ack = client.call("join_room", {"username": username, "room": room})
        assert ack["ok"], ack
        client.wait_for("history", lambda d: d["room"] == room)
        return client

    def redis_client(self) -> redis.Redis:
        return redis.Redis(port=self.redis.port, socket_timeout=2)

    @property
    def redis_pid(self) -> int:
        return int((Path(self.redis.dir) / "pid").read_text())

    def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                client.close()
        for server in (self.a, self.b):
            server.kill()
        self.redis.remove()


# -- observations ----------------------------------------------------------------------------


def ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["id"] for m in messages]


def received(client: RecordingClient, room: str) -> list[dict[str, Any]]:
    return [m for m in client.of("receive_message") if m["room"] == room]


def metric(server: ChatServer, name: str) -> float:
    """One unlabelled sample from the replica's ``/metrics``."""
    text = requests.get(server.internal_url + "/metrics", timeout=5).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def ready(server: ChatServer) -> tuple[int, dict[str, Any]]:
    response = requests.get(server.internal_url + "/readyz", timeout=10)
    return response.status_code, response.json()


def record_figures(name: str, figures: dict[str, Any]) -> None:
    """Keep measured figures in tests/artifacts for the report; print them for ``-s`` runs."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    current = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    current[name] = figures
    FIGURES.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    print(f"{name}: {figures}")


@dataclass
class Writer:
    """Sends numbered messages in a thread and keeps what the server acknowledged as sent."""

    client: RecordingClient
    room: str
    interval: float = 0.05
    acked: list[str] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Writer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        number = 0
        while not self._stop.is_set():
            with self._lock:
                number += 1
                ack = self.client.call("send_message", {"room": self.room, "message": f"#{number}"})
                if ack.get("ok"):
                    self.acked.append(ack["id"])
                else:
                    self.refused.append(ack)
            time.sleep(self.interval)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No send in flight while the block runs (rejoins compare against a fixed list)."""
        with self._lock:
            yield

    def wait_acked(self, count: int, timeout: float = 10) -> None:
        wait_until(lambda: len(self.acked) >= count, timeout, f"{count} acked messages")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


# -- the quiet room --------------------------------------------------------------------------


@dataclass
class QuietRoom:
    pair: Replicas
    alice: RecordingClient  # on replica a
    bob: RecordingClient  # on replica b
    silent_since: float
