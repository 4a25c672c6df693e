"""The WebSocket fast path (app/websocket.py) on real servers: a room broadcast is written
straight to idle members and counted; with WEBSOCKET_FAST_PATH=off, or on a python-socketio
without the hook it wraps, the stock libraries serve and chat works the same."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
import requests

from tests.chat.test_websocket_transport import BROWSER_OFFER, upgrade
from tests.support.clients import RecordingClient
from tests.support.procs import ChatServer

EMBEDDED = {"REDIS_URL": "", "KAFKA_BOOTSTRAP_SERVERS": ""}


def direct_writes(server: ChatServer) -> float:
    text = requests.get(server.internal_url + "/metrics", timeout=5).text
    match = re.search(r"^livechat_websocket_direct_writes_total (\S+)$", text, re.M)
    assert match, "livechat_websocket_direct_writes_total is not exported"
    return float(match.group(1))


def chat_in_a_room(server: ChatServer, members: int = 3) -> None:
    """``members`` WebSocket clients join one room; the first speaks; all receive it."""
    room = "fast_" + secrets.token_hex(4)
    clients = [RecordingClient(server.url) for _ in range(members)]
    try:
        for number, client in enumerate(clients):
            assert client.call("join_room", {"username": f"m{number}", "room": room})["ok"]
        for client in clients:
            client.wait_for("presence", lambda p: len(p["users"]) == members)
        ack = clients[0].call("send_message", {"room": room, "message": "over the wire"})
        assert ack["ok"]
        for client in clients:
            got = client.wait_for("receive_message", lambda m: m["id"] == ack["id"])
            assert (got["username"], got["message"]) == ("m0", "over the wire")
    finally:
        for client in clients:
            client.close()


def test_a_broadcast_takes_the_fast_path(server: ChatServer) -> None:
    before = direct_writes(server)
    chat_in_a_room(server, members=3)
    # The room's members were idle: each got the broadcast (at least the message) directly.
    assert direct_writes(server) - before >= 3


@pytest.fixture(
    scope="module",
    params=["setting-off", "hook-absent"],
)
def stock_server(request: pytest.FixtureRequest) -> Iterator[ChatServer]:
    if request.param == "setting-off":
        chat = ChatServer(env={**EMBEDDED, "WEBSOCKET_FAST_PATH": "off"})
    else:
        chat = ChatServer(env=EMBEDDED, app="tests.support.no_hook_app:create_app()")
    chat.start()
    yield chat
    chat.stop()


def test_chat_works_on_the_stock_libraries(stock_server: ChatServer) -> None:
    chat_in_a_room(stock_server, members=3)
    assert direct_writes(stock_server) == 0
    # simple-websocket as released accepts a browser's compression offer: nothing was swapped.
    head, _ = upgrade(stock_server, BROWSER_OFFER)
    assert head.startswith(b"HTTP/1.1 101")
    assert b"permessage-deflate" in head.lower()


def test_the_absent_hook_is_logged(stock_server: ChatServer) -> None:
    warned = "python-socketio has no _send_eio_packet" in stock_server.log()
    assert warned == ("no_hook_app" in stock_server.app)
