"""The Socket.IO protocol against a real gunicorn/gevent server, with real clients."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from tests.support.clients import RecordingClient
from tests.support.procs import ChatServer

Factory = Callable[[], RecordingClient]
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def room_name() -> str:
    return "r" + secrets.token_hex(6)


def test_classic_tutorial_client_flow(client_factory: Factory) -> None:
    """The tutorial client sends username everywhere and only listens for three events."""
    alice, bob = client_factory(), client_factory()
    room = room_name()
    alice.emit("join_room", {"username": "alice", "room": room})
    alice.wait_for("join_room_announcement", lambda d: d["username"] == "alice")
    bob.emit("join_room", {"username": "bob", "room": room})
    announced = alice.wait_for("join_room_announcement", lambda d: d["username"] == "bob")
    assert announced["room"] == room and ISO_MS.match(announced["time"])

    bob.emit("send_message", {"username": "bob", "room": room, "message": "hello"})
    for client in (alice, bob):  # the sender gets its own message too
        got = client.wait_for("receive_message", lambda d: d["message"] == "hello")
        assert got["username"] == "bob" and got["room"] == room
        assert ISO_MS.match(got["time"]) and isinstance(got["id"], str)

    bob.emit("leave_room", {"username": "bob", "room": room})
    left = alice.wait_for("leave_room_announcement")
    assert left["username"] == "bob" and left["room"] == room
    assert alice.wait_for("presence", lambda d: d["users"] == ["alice"])


def test_rooms_are_isolated(client_factory: Factory) -> None:
    a, b, c = client_factory(), client_factory(), client_factory()
    room_1, room_2 = room_name(), room_name()
    assert a.call("join_room", {"username": "a", "room": room_1})["ok"]
    assert b.call("join_room", {"username": "b", "room": room_2})["ok"]
    assert c.call("join_room", {"username": "c", "room": room_1})["ok"]
    assert a.call("send_message", {"room": room_1, "message": "for room 1"})["ok"]
    c.wait_for("receive_message", lambda d: d["message"] == "for room 1")
    assert b.call("send_message", {"room": room_2, "message": "for room 2"})["ok"]
    b.wait_for("receive_message", lambda d: d["message"] == "for room 2")
    assert [m["message"] for m in a.of("receive_message")] == ["for room 1"]
    assert [m["message"] for m in b.of("receive_message")] == ["for room 2"]
    assert all(e["room"] == room_1 for e in a.of("join_room_announcement"))


def test_first_join_binds_the_name(client_factory: Factory) -> None:
    mallory, victim = client_factory(), client_factory()
    room, other = room_name(), room_name()
    assert mallory.call("join_room", {"username": "mallory", "room": room})["ok"]
    assert victim.call("join_room", {"username": "victim", "room": room})["ok"]
    # A later join with another name keeps the bound one.
    ack = mallory.call("join_room", {"username": "victim", "room": other})
    assert ack == {"ok": True, "room": other, "username": "mallory"}
    # A username field in send_message is ignored.
    assert mallory.call("send_message", {"username": "victim", "room": room, "message": "x"})
    got = victim.wait_for("receive_message", lambda d: d["message"] == "x")
    assert got["username"] == "mallory"


def test_a_live_name_cannot_be_taken_twice_in_a_room(client_factory: Factory) -> None:
    first, second = client_factory(), client_factory()
    room = room_name()
    assert first.call("join_room", {"username": "Sam", "room": room})["ok"]
    ack = second.call("join_room", {"username": "sam", "room": room})
    assert ack["ok"] is False and ack["code"] == "name_taken"
    assert second.wait_for("error")["code"] == "name_taken"
    assert second.connected
    # The same name is fine in another room, and free again once the holder leaves.
    assert second.call("join_room", {"username": "sam", "room": room_name()})["ok"]
    first.close()
    third = client_factory()
    assert third.call("join_room", {"username": "Sam", "room": room})["ok"]


def test_history_on_join_and_since(client_factory: Factory, server: ChatServer) -> None:
    writer = client_factory()
    room = room_name()
    assert writer.call("join_room", {"username": "writer", "room": room})["ok"]
    ids = [writer.call("send_message", {"room": room, "message": f"m{i}"})["id"] for i in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5

    reader = client_factory()
    assert reader.call("join_room", {"username": "reader", "room": room})["ok"]
    history = reader.wait_for("history")
    assert history["room"] == room and history["truncated"] is False
    assert [m["message"] for m in history["messages"]] == [f"m{i}" for i in range(5)]
    assert [m["id"] for m in history["messages"]] == ids

    late = client_factory()
    assert late.call("join_room", {"username": "late", "room": room, "since": ids[2]})["ok"]
    assert [m["id"] for m in late.wait_for("history")["messages"]] == ids[3:]

    api = requests.get(f"{server.url}/api/rooms/{room}/messages", params={"limit": 2}, timeout=5)
    assert api.status_code == 200
    assert api.json()["room"] == room
    assert [m["message"] for m in api.json()["messages"]] == ["m3", "m4"]
    assert api.json()["messages"][0] == history["messages"][3]


def send_many(factory: Factory, room: str, texts: list[str]) -> list[str]:
    """Send ``texts`` in order, ten per client so the flood limit (burst 10) never trips."""
    ids: list[str] = []
    for start in range(0, len(texts), 10):
        writer = factory()
        name = f"writer{start}"
        assert writer.call("join_room", {"username": name, "room": room})["ok"]
        for text in texts[start : start + 10]:
            ack = writer.call("send_message", {"room": room, "message": text})
            assert ack["ok"], ack
            ids.append(ack["id"])
        writer.close()
    return ids


def test_since_beyond_the_kept_history_is_flagged(client_factory: Factory) -> None:
    """HISTORY_LIMIT is 50: after 55 more messages an old `since` has a gap."""
    room = room_name()
    ids = send_many(client_factory, room, [f"n{i}" for i in range(56)])
    reader = client_factory()
    assert reader.call("join_room", {"username": "r", "room": room, "since": ids[0]})["ok"]
    history = reader.wait_for("history")
    assert history["truncated"] is True
    assert [m["id"] for m in history["messages"]] == ids[-50:]
    # Within the kept history, `since` still gives exactly what came after it.
    exact = client_factory()
    assert exact.call("join_room", {"username": "e", "room": room, "since": ids[40]})["ok"]
    page = exact.wait_for("history")
    assert page["truncated"] is False and [m["id"] for m in page["messages"]] == ids[41:]


def test_http_api(server: ChatServer) -> None:
    codes = set()
    for _ in range(5):
        response = requests.post(f"{server.url}/api/rooms", timeout=5)
        assert response.status_code == 201
        code = response.json()["room"]
        assert re.fullmatch(r"[A-Z]{8}", code)
        codes.add(code)
    assert len(codes) == 5
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{server.internal_url}/readyz", timeout=5).status_code == 200
    empty = requests.get(f"{server.url}/api/rooms/{code}/messages", timeout=5)
    assert empty.status_code == 200 and empty.json()["messages"] == []
    missing = requests.get(f"{server.url}/api/rooms/{room_name()}/messages", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"] == "room_not_found"
    bad = requests.get(f"{server.url}/api/rooms/bad%20room/messages", timeout=5)
    assert bad.status_code == 400
    for bad in ("0", "-3", "many"):
        bad_limit = requests.get(f"{server.url}/api/rooms/lobby/messages?limit={bad}", timeout=5)
        assert bad_limit.status_code == 400 and bad_limit.json()["error"] == "invalid_limit"
    big = requests.get(f"{server.url}/api/rooms/lobby/messages?limit=5000", timeout=5)
    assert big.status_code == 200 and len(big.json()["messages"]) <= 50
    page = requests.get(f"{server.url}/chat", params={"username": "u", "room": "lobby"}, timeout=5)
    assert page.status_code == 200
    for element in ('id="messages"', 'id="message_input_form"', 'id="message_input"'):
        assert element in page.text
    assert "socket.io-4.8.3.min.js" in page.text
    landing = requests.get(server.url + "/", timeout=5)
    assert landing.status_code == 200 and "username_input" in landing.text


@pytest.mark.parametrize("room", ["#xqcow", "lobby", "a-b_C"])
def test_chat_without_a_name_sends_to_the_landing_page_keeping_the_room(
    server: ChatServer, room: str
) -> None:
    """A `#channel` room must survive the redirect: unencoded, `#xqcow` would become a fragment."""
    answer = requests.get(
        f"{server.url}/chat", params={"room": room}, allow_redirects=False, timeout=5
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert (location.path, location.fragment) == ("/", "")
    assert parse_qs(location.query) == {"room": [room]}
    landing = requests.get(urljoin(server.url, answer.headers["Location"]), timeout=5)
    assert landing.status_code == 200 and f'value="{room}"' in landing.text


def test_metrics_count_what_happened(client_factory: Factory, server: ChatServer) -> None:
    client = client_factory()
    room = room_name()
    assert client.call("join_room", {"username": "metric", "room": room})["ok"]
    assert client.call("send_message", {"room": room, "message": "counted"})["ok"]
    assert not client.call("send_message", {"room": room, "message": ""})["ok"]
    text = requests.get(server.internal_url + "/metrics", timeout=5).text
    for name in (
        "livechat_connected_clients",
        "livechat_joins_total",
        'livechat_messages_total{outcome="sent"}',
        'livechat_messages_total{outcome="rejected"}',
        'livechat_errors_total{code="empty_message"}',
        'livechat_event_duration_seconds_bucket{event="send_message"',
        "process_resident_memory_bytes",
    ):
        assert name in text, name
