"""Live Twitch room state built from records: history, moderation, liveness."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.twitch.rooms import BadRecord, TwitchRooms, record_id


def value(**fields: Any) -> bytes:
    base: dict[str, Any] = {"v": 1, "streamer": "chan", "time": "2026-11-21T20:00:00.000Z"}
    return json.dumps({**base, **fields}).encode()


def message(twitch_id: str, username: str = "u", text: str = "hi", **extra: Any) -> bytes:
    return value(
        type="message",
        order=1,
        username=username,
        message=text,
        id=twitch_id,
        display_name=username.upper(),
        color="#00FF7F",
        badges={"subscriber": "12"},
        emotes=[],
        action=False,
        **extra,
    )


def test_messages_become_history_with_twitch_fields() -> None:
    rooms = TwitchRooms(history_limit=3)
    emits = rooms.apply(0, 7, message("a", text="Kappa hi"))
    assert emits[0][0:2] == ("receive_message", "#chan")
    event = emits[0][2]
    assert event["id"] == record_id(0, 7) and len(event["id"]) == 19
    assert (event["display_name"], event["color"]) == ("U", "#00FF7F")
    assert event["badges"] == {"subscriber": "12"} and event["action"] is False
    assert [m.id for m in rooms.history("#chan", None).messages] == [record_id(0, 7)]


def test_history_is_capped_and_since_works() -> None:
    rooms = TwitchRooms(history_limit=3)
    for offset in range(5):
        rooms.apply(0, offset, message(f"m{offset}"))
    ids = [record_id(0, o) for o in range(5)]
    assert [m.id for m in rooms.history("#chan", None).messages] == ids[2:]
    assert [m.id for m in rooms.history("#chan", ids[2]).messages] == ids[3:]
    assert rooms.history("#chan", ids[0]).truncated


def test_delete_and_clear_moderate_history() -> None:
    rooms = TwitchRooms(history_limit=10)
    rooms.apply(0, 0, message("a", username="troll"))
    rooms.apply(0, 1, message("b", username="nice"))
    rooms.apply(0, 2, message("c", username="troll"))
    deleted = rooms.apply(0, 3, value(type="delete", id="a", username="troll"))
    assert deleted == [("message_deleted", "#chan", {"room": "#chan", "id": record_id(0, 0)})]
    cleared = rooms.apply(0, 4, value(type="clear", username="troll", duration=600))
    assert cleared == [("room_cleared", "#chan", {"room": "#chan", "username": "troll"})]
    assert [m.username for m in rooms.history("#chan", None).messages] == ["nice"]
    rooms.apply(0, 5, value(type="clear", username=None, duration=None))
    assert rooms.history("#chan", None).messages == []


def test_notice_is_shown_as_a_message() -> None:
    rooms = TwitchRooms(history_limit=10)
    emits = rooms.apply(
        0,
        0,
        value(
            type="notice",
            id="n1",
            username="subber",
            notice="resub",
            system_message="subber subscribed for 3 months.",
            message="yay",
        ),
    )
    event = emits[0][2]
    assert event["message"] == "subber subscribed for 3 months. yay"
    assert event["notice"] == "resub"


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        json.dumps({"v": 2, "streamer": "chan", "type": "message"}).encode(),
        json.dumps({"v": 1, "streamer": "Bad Channel", "type": "message"}).encode(),
        json.dumps({"v": 1, "streamer": "chan", "type": "surprise"}).encode(),
        json.dumps({"v": 1, "streamer": "chan", "type": "message", "time": "t"}).encode(),
    ],
)
def test_bad_records_are_refused(raw: bytes) -> None:
    with pytest.raises(BadRecord):
        TwitchRooms(history_limit=3).apply(0, 0, raw)


def test_live_list_reports_rate() -> None:
    rooms = TwitchRooms(history_limit=3)
    for offset in range(4):
        rooms.apply(0, offset, message(f"x{offset}"))
    [live] = rooms.live()
    assert live["room"] == "#chan" and live["messages_per_minute"] == 4
    assert rooms.exists("#anychannel") and not rooms.exists("#Bad!")
