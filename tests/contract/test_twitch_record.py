"""The Kafka record contract, end to end without Kafka: what the ingest builds from the recorded
Twitch traffic validates against docs/schema/twitch-record.v1.json, and the chat server's
Twitch rooms apply every such record and show it as documented.

The ingest side is its real relay (``ingest.relay.Relay`` with its ``RecordBuilder``) writing
into an in-memory sink; the chat side is ``app.twitch.rooms.TwitchRooms``, the same object the
replica's Kafka consumer feeds. Only the broker in between is left out (the slower end-to-end
test in tests/twitch/ has it).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from prometheus_client import CollectorRegistry

from app.twitch.rooms import TwitchRooms
from ingest.irc import from_irc, parse
from ingest.irc.errors import ParseError
from ingest.metrics import IngestMetrics
from ingest.records import Record
from ingest.relay import Relay
from tests.support.corpora import corpus_lines, expected_records, xqcow_lines
from tests.support.procs import ROOT

SCHEMA = json.loads((ROOT / "docs" / "schema" / "twitch-record.v1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


class ListSink:
    """The ingest's Sink protocol, keeping what it is given."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def put(self, record: Record, arrived: float) -> None:
        self.records.append(record)

    def ready(self) -> str | None:
        return None

    def close(self, timeout: float) -> None:
        return None


def ingest(lines: list[str]) -> list[Record]:
    """Every line through the ingest's parser and relay, as ``python -m ingest`` does."""
    sink = ListSink()
    relay = Relay(sink, IngestMetrics("contract", CollectorRegistry()))
    for number, line in enumerate(lines):
        try:
            typed = from_irc(parse(line))
        except ParseError:
            continue  # counted as malformed and skipped by the ingest
        relay.handle(None, typed, line, 1_600_000_000.0 + number)
    return sink.records


# Each corpus and how many of its lines are chat events (tests/data/README.md).
CORPORA = {
    "twitch-irc-lines": (corpus_lines, len(expected_records())),
    "xqcow-5000": (xqcow_lines, 4_933 + 58 + 9),
}


@pytest.fixture(scope="module", params=sorted(CORPORA))
def records(request: pytest.FixtureRequest) -> list[Record]:
    lines, chat_events = CORPORA[request.param]
    produced = ingest(lines())
    assert len(produced) == chat_events
    return produced


def test_every_record_matches_the_schema(records: list[Record]) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    for record in records:
        value = json.loads(record.value)
        if not VALIDATOR.is_valid(value):
            raise AssertionError((value, [e.message for e in VALIDATOR.iter_errors(value)]))
        assert record.key == value["streamer"] and record.type == value["type"]
    orders = [json.loads(r.value)["order"] for r in records]
    assert orders == sorted(set(orders)), "order must strictly increase"


def test_the_schema_refuses_what_the_rooms_could_not_show() -> None:
    good = {"v": 1, "type": "delete", "order": 1, "streamer": "a", "time": _TIME, "id": "x"}
    assert not VALIDATOR.is_valid(good)  # no username
    assert VALIDATOR.is_valid({**good, "username": "b"})
    assert not VALIDATOR.is_valid({**good, "username": "b", "v": 2})
    assert not VALIDATOR.is_valid({**good, "username": "b", "type": "poll"})
    assert not VALIDATOR.is_valid({**good, "username": "b", "streamer": "#A"})


_TIME = "2026-11-21T20:15:03.123Z"


def test_every_record_is_shown_by_the_twitch_rooms(records: list[Record]) -> None:
    rooms = TwitchRooms(history_limit=10_000)
    shown: dict[str, dict[str, Any]] = {}  # Twitch message id -> its receive_message payload
    for offset, record in enumerate(records):
        value = json.loads(record.value)
        room = f"#{value['streamer']}"
        emits = rooms.apply(0, offset, record.value)
        kind = value["type"]
        if kind in ("message", "notice"):
            [(event, to, payload)] = emits
            assert (event, to) == ("receive_message", room)
            assert payload["room"] == room and payload["time"] == value["time"]
            assert payload["username"] == value["username"]
            assert payload["twitch_id"] == value["id"]
            if kind == "message":
                assert payload["message"] == value["message"]
                for field in ("display_name", "color", "badges", "emotes", "action"):
                    assert payload[field] == value[field], field
            else:
                assert payload["notice"] == value["notice"]
                assert value["system_message"] in payload["message"]
            shown[value["id"]] = payload
        elif kind == "delete":
            assert all(e[0] == "message_deleted" for e in emits)
            target = shown.pop(value["id"], None)
            expected = [] if target is None else [{"room": room, "id": target["id"]}]
            assert [e[2] for e in emits] == expected
        else:
            assert emits == [("room_cleared", room, {"room": room, "username": value["username"]})]
            for twitch_id, payload in list(shown.items()):
                if payload["room"] == room and value["username"] in (None, payload["username"]):
                    del shown[twitch_id]
    # What is left in each room's history is exactly what was shown and never moderated away.
    kept = {m["twitch_id"] for room in rooms.rooms() for m in _events(rooms, room)}
    assert kept == set(shown)


def _events(rooms: TwitchRooms, room: str) -> list[dict[str, Any]]:
    return [message.to_event() for message in rooms.history(room, None).messages]
