"""Chat servers for the hostile-client tests: embedded, and on a private Redis where the store
matters. Each is the real thing (gunicorn, gevent worker) with production defaults."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.security.observe import EMBEDDED
from tests.support.clients import RecordingClient
from tests.support.procs import ChatServer, Service


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
