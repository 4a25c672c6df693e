"""Defects 6, 7 and 10 of issue 12 on the event side: trailing newlines in room names, lone
surrogates (which Redis could not store), zero-width messages, unknown events, and refused
sends that did not count toward the flood limit."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest

from tests.security.wire import RawSocket
from tests.support.clients import RecordingClient
from tests.support.procs import ChatServer

Clients = Callable[[ChatServer], RecordingClient]


@pytest.mark.parametrize("room", ["lobby\n", "lobby\r\n", "\nlobby", "lob\nby", "#chan\n"])
def test_room_names_with_newlines_are_refused(
    server: ChatServer, clients: Clients, room: str
) -> None:
    client = clients(server)
    ack = client.call("join_room", {"username": "u1", "room": room})
    assert ack["ok"] is False and ack["code"] == "invalid_room", ack
    assert client.wait_for("error")["code"] == "invalid_room"


def test_lone_surrogate_is_invalid_field_in_both_modes(any_server: ChatServer) -> None:
    """Defect 7: stored in embedded mode, ``internal`` plus a traceback on Redis. The real
    client cannot send a lone surrogate (its JSON encoder escapes it), so this is raw JSON."""
    room = "sur" + secrets.token_hex(4)
    raw = RawSocket(any_server)
    raw.send(f'421["join_room",{{"username":"sur","room":"{room}"}}]')
    assert raw.ack(1)["ok"] is True
    raw.send(f'422["send_message",{{"room":"{room}","message":"a\\ud800b"}}]')
    ack = raw.ack(2)
    assert ack["ok"] is False and ack["code"] == "invalid_field", ack
    raw.send(f'423["send_message",{{"room":"{room}","message":"fine"}}]')
    assert raw.ack(3)["ok"] is True
    raw.close()
    fresh = RawSocket(any_server)  # the name is bound by the first join: a new connection
    fresh.send('424["join_room",{"username":"x\\udc00","room":"lobby"}]')
    assert fresh.ack(4)["code"] == "invalid_username"
    fresh.close()
    assert "Traceback" not in any_server.log()


@pytest.mark.parametrize("text", ["\u200b", "\u200b\u200c\u200d\u2060", " \ufeff ", "\u3164\u115f"])
def test_messages_of_only_invisible_characters_are_empty(
    server: ChatServer, clients: Clients, text: str
) -> None:
    client = clients(server)
    room = "zw" + secrets.token_hex(4)
    assert client.call("join_room", {"username": "zw", "room": room})["ok"]
    ack = client.call("send_message", {"room": room, "message": text})
    assert ack["ok"] is False and ack["code"] == "empty_message", ack
    assert client.call("send_message", {"room": room, "message": "a\u200bb"})["ok"]


@pytest.mark.parametrize("event", ["no_such_event", "message", "json", "connect", "disconnect"])
def test_unknown_events_are_acknowledged(server: ChatServer, event: str) -> None:
    raw = RawSocket(server)
    raw.send(f'425["{event}",{{}}]')
    ack = raw.ack(5)
    assert ack["ok"] is False and ack["code"] in ("unknown_event", "malformed_packet"), ack
    error = '42["error"'
    assert any(p.startswith(error) for p in raw.received) or raw.next_packet(
        lambda p: p.startswith(error)
    )
    # The connection is still usable (and "connect" did not reset it).
    raw.send('426["join_room",{"username":"still","room":"lobby"}]')
    assert raw.ack(6)["ok"] is True
    raw.close()


def test_refused_sends_count_toward_the_flood_limit(server: ChatServer, clients: Clients) -> None:
    client = clients(server)
    room = "fl" + secrets.token_hex(4)
    assert client.call("join_room", {"username": "flood", "room": room})["ok"]
    codes = [client.call("send_message", {"room": room, "message": ""})["code"] for _ in range(30)]
    assert "rate_limited" in codes  # the burst is 10: refused sends used it up
    ack = client.call("send_message", {"room": room, "message": "real"})
    assert ack["ok"] is False and ack["code"] == "rate_limited"
