"""One embedded-mode chat server (no Redis, no Kafka) per module, and client factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.clients import RecordingClient
from tests.support.procs import ChatServer


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    chat = ChatServer(env={"REDIS_URL": "", "KAFKA_BOOTSTRAP_SERVERS": ""}).start()
    yield chat
    chat.stop()


@pytest.fixture
def client_factory(server: ChatServer) -> Iterator[Callable[[], RecordingClient]]:
    clients: list[RecordingClient] = []

    def make() -> RecordingClient:
        client = RecordingClient(server.url)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
