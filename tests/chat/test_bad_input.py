"""Every kind of bad input gets an `error` with a stable code; the connection stays usable."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.clients import RecordingClient

Factory = Callable[[], RecordingClient]


@pytest.fixture
def joined(client_factory: Factory) -> tuple[RecordingClient, str]:
    client = client_factory()
    room = "bad" + secrets.token_hex(5)
    assert client.call("join_room", {"username": "tester", "room": room})["ok"]
    return client, room


def refused(client: RecordingClient, event: str, data: Any, code: str) -> None:
    client.clear()
    ack = client.call(event, data)
    assert ack["ok"] is False and ack["code"] == code, ack
    error = client.wait_for("error")
    assert error["code"] == code and isinstance(error["message"], str) and error["message"]
    assert not client.of("receive_message")
    assert client.connected


@pytest.mark.parametrize(
    ("event", "payload", "code"),
    [
        ("send_message", "just a string", "invalid_payload"),
        ("send_message", ["a", "list"], "invalid_payload"),
        ("send_message", None, "invalid_payload"),
        ("send_message", 42, "invalid_payload"),
        ("send_message", {"message": "no room"}, "invalid_field"),
        ("send_message", {"room": 7, "message": "room not a string"}, "invalid_field"),
        ("send_message", {"room": "ROOM", "message": ["not", "a", "string"]}, "invalid_field"),
        ("send_message", {"room": "ROOM"}, "invalid_field"),
        ("send_message", {"room": "ROOM", "message": ""}, "empty_message"),
        ("send_message", {"room": "ROOM", "message": "   \n\t "}, "empty_message"),
        ("send_message", {"room": "ROOM", "message": "x" * 501}, "message_too_long"),
        ("send_message", {"room": "no spaces allowed", "message": "hi"}, "invalid_room"),
        ("send_message", {"room": "a" * 33, "message": "hi"}, "invalid_room"),
        ("send_message", {"room": "<script>", "message": "hi"}, "invalid_room"),
        ("send_message", {"room": "not-joined-room", "message": "hi"}, "not_in_room"),
        ("join_room", {"room": "ok-room", "since": 12}, "invalid_field"),
        ("join_room", {"room": "ok-room", "since": "not-an-id"}, "invalid_field"),
        ("join_room", {"room": "../etc"}, "invalid_room"),
        ("join_room", {"room": ""}, "invalid_room"),
        ("join_room", {"username": "x"}, "invalid_field"),
        ("join_room", "lobby", "invalid_payload"),
        ("join_room", {"room": "#nosuchchannel"}, "room_not_found"),
        ("leave_room", {"room": "never-joined"}, "not_in_room"),
        ("leave_room", {}, "invalid_field"),
        ("leave_room", [], "invalid_payload"),
    ],
)
def test_bad_event_payloads(
    joined: tuple[RecordingClient, str], event: str, payload: Any, code: str
) -> None:
    client, room = joined
    if isinstance(payload, dict) and payload.get("room") == "ROOM":
        payload = {**payload, "room": room}
    refused(client, event, payload, code)
    # Still usable afterwards.
    assert client.call("send_message", {"room": room, "message": "still here"})["ok"]


def test_message_length_counts_characters_not_bytes(joined: tuple[RecordingClient, str]) -> None:
    client, room = joined
    assert client.call("send_message", {"room": room, "message": "é" * 500})["ok"]
    assert client.call("send_message", {"room": room, "message": "😀" * 500})["ok"]
    refused(client, "send_message", {"room": room, "message": "😀" * 501}, "message_too_long")


@pytest.mark.parametrize("name", ["", "   ", "x" * 33, "bad\x00name", "tab\tname", "rtl\u202ename"])
def test_bad_usernames(client_factory: Factory, name: str) -> None:
    client = client_factory()
    refused(client, "join_room", {"username": name, "room": "lobby"}, "invalid_username")
    assert client.call("join_room", {"username": "fine", "room": "u" + secrets.token_hex(4)})["ok"]


def test_flood_is_limited_and_recovers(joined: tuple[RecordingClient, str]) -> None:
    """Burst of 10 allowed, then `rate_limited`; refused messages are not delivered."""
    client, room = joined
    client.clear()
    acks = [client.call("send_message", {"room": room, "message": f"f{i}"}) for i in range(25)]
    sent = [a for a in acks if a["ok"]]
    limited = [a for a in acks if not a["ok"]]
    assert 10 <= len(sent) < 25
    assert limited and all(a["code"] == "rate_limited" for a in limited)
    client.wait_for("error", lambda e: e["code"] == "rate_limited")
    client.wait_for("receive_message", lambda m: m["id"] == sent[-1]["id"])
    delivered = {m["id"] for m in client.of("receive_message")}
    assert delivered == {a["id"] for a in sent}
    time.sleep(0.5)  # 5 per second sustained: tokens come back
    assert client.call("send_message", {"room": room, "message": "after the flood"})["ok"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
payloads = json_values | st.fixed_dictionaries(
    {},
    optional={
        "username": json_values | st.text(max_size=40),
        "room": json_values | st.from_regex(r"[A-Za-z0-9_#-]{0,34}", fullmatch=True),
        "message": json_values | st.text(max_size=600),
        "since": json_values | st.from_regex(r"[0-9]{17,21}", fullmatch=True),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(event=st.sampled_from(["join_room", "send_message", "leave_room"]), payload=payloads)
def test_fuzzed_payloads_never_break_the_connection(
    fuzz_client: RecordingClient, event: str, payload: Any
) -> None:
    ack = fuzz_client.call(event, payload)
    assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool)
    if not ack["ok"]:
        assert isinstance(ack["code"], str) and ack["code"] != "internal", ack
    assert fuzz_client.connected


@pytest.fixture(scope="module")
def fuzz_client(server: object) -> Any:
    from tests.support.procs import ChatServer

    assert isinstance(server, ChatServer)
    client = RecordingClient(server.url)
    yield client
    time.sleep(2.5)  # let the join/leave flood bucket refill after the fuzzing
    ack = client.call("join_room", {"username": "after-fuzz", "room": "fuzz-check"})
    assert ack["ok"], ack
    client.close()
