"""Chat events to Kafka records, checked field by field against hand-written values."""

from __future__ import annotations

import json

from ingest.irc import IrcMessage, from_irc, parse
from ingest.irc.twitch import ChatEvent, ClearChat, ClearMsg, PrivMsg, UserNotice
from ingest.records import RecordBuilder, emotes_of, format_time
from tests.support.corpora import expected_records


def _events(lines: list[str]) -> list[tuple[int, ChatEvent]]:
    events = []
    for index, line in enumerate(lines):
        typed = from_irc(parse(line))
        if isinstance(typed, PrivMsg | ClearMsg | ClearChat | UserNotice):
            events.append((index, typed))
    return events


def test_corpus_records_by_hand(corpus: list[str]) -> None:
    expected = expected_records()
    builder = RecordBuilder(first_order=100)
    events = _events(corpus)
    assert [index for index, _ in events] == sorted(expected)
    for expected_order, (index, event) in enumerate(events, start=100):
        record = builder.build(event, received_ms=0, raw_line=corpus[index])
        value = json.loads(record.value)
        assert value.pop("order") == expected_order
        assert value == expected[index], f"line {index}"
        assert record.key == expected[index]["streamer"]
        assert record.type == expected[index]["type"]


def test_dedup_key_is_the_twitch_id_or_the_line(corpus: list[str]) -> None:
    builder = RecordBuilder(1)
    privmsg = builder.build(PrivMsg.from_irc(parse(corpus[16])), 0, corpus[16])
    assert privmsg.dedup_key == "e9d998c3-36f1-430f-89ec-6b887c28af36"
    clear = builder.build(ClearChat.from_irc(parse(corpus[0])), 0, corpus[0])
    assert clear.dedup_key == corpus[0]


def test_time_falls_back_to_receipt() -> None:
    message = IrcMessage(
        "PRIVMSG", ("#chan",), "hi", "bob!bob@bob.tmi.twitch.tv", {"id": "x", "color": "#abcdef"}
    )
    event = from_irc(message)
    assert isinstance(event, PrivMsg)
    value = json.loads(RecordBuilder(1).build(event, 1_700_000_000_007, "raw").value)
    assert value["time"] == "2023-11-14T22:13:20.007Z"
    assert value["color"] == "#ABCDEF"
    assert value["display_name"] == "bob"  # no display-name tag


def test_format_time() -> None:
    assert format_time(0) == "1970-01-01T00:00:00.000Z"
    assert format_time(1594553828245) == "2020-07-12T11:37:08.245Z"


def test_emotes_count_code_points_and_drop_ranges_past_the_end() -> None:
    text = "😀 Kappa"  # one code point, two UTF-16 units, four UTF-8 bytes
    assert emotes_of(text, "25:2-6") == [{"id": "25", "name": "Kappa", "start": 2, "end": 6}]
    assert emotes_of(text, "25:2-7") == []


def test_order_strictly_increases_from_the_clock() -> None:
    builder = RecordBuilder()
    event = ClearChat("chan", None, None, 0)
    orders = [json.loads(builder.build(event, 0, "x").value)["order"] for _ in range(3)]
    assert orders[0] > 1_600_000_000_000_000  # microseconds since the epoch
    assert orders == sorted(set(orders))
