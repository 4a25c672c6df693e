"""Chat servers for the hostile-client tests: embedded, and on a private Redis where the store
matters. Each is the real thing (gunicorn, gevent worker) with production defaults."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.support.clients import RecordingClient
from tests.support.procs import ChatServer, Service

EMBEDDED = {"REDIS_URL": "", "KAFKA_BOOTSTRAP_SERVERS": ""}


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    chat = ChatServer(env=EMBEDDED).start()
    yield chat
    chat.stop()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[ChatServer]:
    """A chat server on a Redis of its own (pub/sub channels are global to a Redis)."""
    redis = Service("redis").start()
    chat = ChatServer(
        env={"REDIS_URL": f"redis://127.0.0.1:{redis.port}/0", "KAFKA_BOOTSTRAP_SERVERS": ""}
    ).start()
    yield chat
    chat.stop()
    redis.remove()


@pytest.fixture(params=["embedded", "redis"])
def any_server(request: pytest.FixtureRequest) -> ChatServer:
    """Both modes, for defects whose outcome depends on the store."""
    name = "server" if request.param == "embedded" else "redis_server"
    chat: ChatServer = request.getfixturevalue(name)
    return chat


@pytest.fixture
def clients() -> Iterator[Callable[[ChatServer], RecordingClient]]:
    made: list[RecordingClient] = []

    def make(chat: ChatServer) -> RecordingClient:
        client = RecordingClient(chat.url)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def log_lines(chat: ChatServer) -> list[str]:
    return chat.log_path.read_text(errors="replace").splitlines()


def metric_value(chat: ChatServer, sample: str) -> float:
    """One sample (name with labels, exactly as exposed) from the internal ``/metrics``."""
    text = requests.get(chat.internal_url + "/metrics", timeout=5).text
    found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def malformed_total(chat: ChatServer) -> float:
    text = requests.get(chat.internal_url + "/metrics", timeout=5).text
    return sum(
        float(v) for v in re.findall(r"^livechat_malformed_input_total\{[^}]*\} (\S+)$", text, re.M)
    )


def log_bound(seconds: float) -> int:
    """Most lines a flood lasting ``seconds`` may add: two budgets (app/logbudget.py: ours and
    the libraries') of 10 lines per minute window, a flood touching ceil(seconds/60) + 1
    windows (it may straddle a boundary), plus a few lines of the server's own."""
    windows = math.ceil(seconds / 60) + 1
    return 2 * 10 * windows + 5
