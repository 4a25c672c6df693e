"""Defects 4, 5 and 10 of issue 12 on the HTTP side, the internal port, the per-address
connection limit and the trusted proxy hops, all against real server processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import websocket

from tests.security.observe import EMBEDDED, metric_value
from tests.security.wire import Polling, RawSocket
from tests.support.procs import ChatServer


def test_room_creation_is_rate_limited_per_client(server: ChatServer) -> None:
    """Defect 4: 2,000 calls in 4.2 s all returned 201, each reserving a room for a day."""
    statuses = [requests.post(f"{server.url}/api/rooms", timeout=5) for _ in range(30)]
    created = [r for r in statuses if r.status_code == 201]
    limited = [r for r in statuses if r.status_code == 429]
    assert 1 <= len(created) <= 11 and len(created) + len(limited) == 30
    assert limited[0].json()["error"] == "rate_limited"
    assert limited[0].headers["Retry-After"] == "60"
    assert (
        metric_value(server, 'livechat_requests_refused_total{reason="room_creation_rate"}') >= 19
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        # engineio trusted these from anyone; without trusted proxy hops they mean nothing
        {"Origin": "http://evil.example", "X-Forwarded-Host": "evil.example"},
        {
            "Origin": "https://evil.example",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
        },
    ],
)
def test_cross_origin_requests_are_refused(server: ChatServer, headers: dict[str, str]) -> None:
    created = requests.post(f"{server.url}/api/rooms", headers=headers, timeout=5)
    assert created.status_code == 403 and created.json()["error"] == "cross_origin"
    opened = requests.get(
        f"{server.url}/socket.io/",
        params={"EIO": "4", "transport": "polling"},
        headers=headers,
        timeout=5,
    )
    assert opened.status_code == 400
    with pytest.raises(websocket.WebSocketBadStatusException):
        RawSocket(
            server,
            origin=headers["Origin"],
            headers={k: v for k, v in headers.items() if k != "Origin"},
        )


def test_same_origin_with_default_port_spelled_out_is_allowed(server: ChatServer) -> None:
    raw = RawSocket(server, origin=f"HTTP://127.0.0.1:{server.port}")
    raw.close()


@pytest.mark.parametrize("limit", ["%C2%B2", "%D9%A3", "1e3", "+5", " 5", "9" * 3000, "0"])
def test_history_limit_parsing_never_500s(server: ChatServer, limit: str) -> None:
    """Defect 5: ``limit=²`` passed ``str.isdigit()`` and made ``int()`` raise: a 500."""
    got = requests.get(f"{server.url}/api/rooms/lobby/messages?limit={limit}", timeout=5)
    if limit == "9" * 3000:  # a huge number is "all that is kept"
        assert got.status_code == 200
    else:
        assert got.status_code == 400 and got.json()["error"] == "invalid_limit", limit


def test_history_of_a_room_that_does_not_exist_is_404(server: ChatServer) -> None:
    missing = requests.get(f"{server.url}/api/rooms/neverjoined42/messages", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"] == "room_not_found"
    twitch = requests.get(f"{server.url}/api/rooms/%23nochannel/messages", timeout=5)
    assert twitch.status_code == 404
    assert requests.get(f"{server.url}/api/rooms/lobby/messages", timeout=5).status_code == 200


def test_metrics_and_readiness_are_not_on_the_public_port(server: ChatServer) -> None:
    for path in ("/metrics", "/readyz", "/readyz?ignore=kafka"):
        assert requests.get(server.url + path, timeout=5).status_code == 404, path
        assert requests.get(server.internal_url + path, timeout=5).status_code == 200, path
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
    assert requests.get(server.internal_url + "/healthz", timeout=5).status_code == 200
    assert (
        "livechat_malformed_input_total"
        in requests.get(server.internal_url + "/metrics", timeout=5).text
        or True
    )  # created on first use; its help text is below
    text = requests.get(server.internal_url + "/metrics", timeout=5).text
    assert "# HELP livechat_malformed_input_total" in text


@pytest.fixture(scope="module")
def limited() -> Iterator[ChatServer]:
    chat = ChatServer(env={**EMBEDDED, "MAX_CONNECTIONS_PER_ADDRESS": "5"}).start()
    yield chat
    chat.stop()


def test_connections_per_address_are_limited(limited: ChatServer) -> None:
    """One client opened 1,000 connections and all were accepted."""
    sockets = [RawSocket(limited, connect=False) for _ in range(3)]
    sessions = [Polling(limited) for _ in range(2)]
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        RawSocket(limited, connect=False)
    assert refused.value.status_code == 429
    polled = requests.get(
        f"{limited.url}/socket.io/",
        params={"EIO": "4", "transport": "polling"},
        headers={"Origin": limited.url},
        timeout=5,
    )
    assert polled.status_code == 429
    # A closed connection frees its place.
    sockets.pop().close()
    for _ in range(50):
        try:
            sockets.append(RawSocket(limited, connect=False))
            break
        except websocket.WebSocketBadStatusException:
            import time

            time.sleep(0.1)
    else:
        raise AssertionError("the place of a closed connection was not freed")
    assert metric_value(limited, 'livechat_requests_refused_total{reason="connection_limit"}') >= 2
    for raw in sockets:
        raw.close()
    for session in sessions:
        session.http.close()


@pytest.fixture(scope="module")
def proxied() -> Iterator[ChatServer]:
    env = {**EMBEDDED, "TRUSTED_PROXY_HOPS": "1", "MAX_CONNECTIONS_PER_ADDRESS": "2"}
    chat = ChatServer(env=env).start()
    yield chat
    chat.stop()


def test_trusted_proxy_hops_take_the_client_from_x_forwarded_for(proxied: ChatServer) -> None:
    def create(client: str) -> int:
        headers = {"X-Forwarded-For": f"203.0.113.9, {client}"}  # the proxy appended the last
        return requests.post(f"{proxied.url}/api/rooms", headers=headers, timeout=5).status_code

    first = [create("198.51.100.1") for _ in range(12)]
    assert first.count(429) >= 1
    assert create("198.51.100.2") == 201  # another client behind the same proxy
    # Connections are counted per forwarded client too.
    mine = [RawSocket(proxied, connect=False, headers={"X-Forwarded-For": "198.51.100.7"})]
    mine.append(RawSocket(proxied, connect=False, headers={"X-Forwarded-For": "198.51.100.7"}))
    with pytest.raises(websocket.WebSocketBadStatusException):
        RawSocket(proxied, connect=False, headers={"X-Forwarded-For": "198.51.100.7"})
    other = RawSocket(proxied, connect=False, headers={"X-Forwarded-For": "198.51.100.8"})
    for raw in [*mine, other]:
        raw.close()
    # The origin the browser saw is the proxy's public one.
    public = {"X-Forwarded-Host": "chat.example", "X-Forwarded-Proto": "https"}
    ok = requests.post(
        f"{proxied.url}/api/rooms",
        headers={**public, "Origin": "https://chat.example", "X-Forwarded-For": "192.0.2.1"},
        timeout=5,
    )
    assert ok.status_code == 201
    raw = RawSocket(
        proxied,
        origin="https://chat.example",
        headers={**public, "X-Forwarded-For": "192.0.2.2"},
    )
    raw.close()
