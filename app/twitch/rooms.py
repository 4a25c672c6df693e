"""Per-channel state of the live Twitch rooms, built purely from Kafka records.

Every replica reads the whole topic itself and applies each record here, in partition order,
so every replica holds the same history (deletes and clears included) and emits each record
once to its own viewers. Nothing here does I/O: ``apply`` returns the events to emit.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from app.chat.validation import CHANNEL_RE
from app.store.base import CappedHistory, HistoryPage, Message

log = logging.getLogger(__name__)

#: A channel counts as live while it had a record within this many seconds.
LIVE_WINDOW_SECONDS = 300.0
#: Message rate is measured over this trailing window.
RATE_WINDOW_SECONDS = 60.0

Emit = tuple[str, str, dict[str, Any]]  # (event, room, payload)


class BadRecord(ValueError):
    """A Kafka record that is not a v1 livechat record; counted and skipped."""


def record_id(partition: int, offset: int) -> str:
    """19 digits like every message id; order within a channel = order in its partition."""
    return f"{partition:04d}{offset:015d}"


@dataclass
class _Channel:
    history: CappedHistory
    recent: deque[float] = field(default_factory=deque)  # monotonic receipt times
    last_seen: float = 0.0


class TwitchRooms:
    """History, moderation and liveness of every channel seen on the topic."""

    def __init__(self, history_limit: int) -> None:
        self.history_limit = history_limit
        self._channels: dict[str, _Channel] = {}
        self.available = False  # is the Kafka broker reachable right now?

    # -- LiveRooms protocol --------------------------------------------------------------

    def exists(self, room: str) -> bool:
        """Any ``#channel`` can be joined once Kafka is configured; quiet ones start empty."""
        return room.startswith("#") and bool(CHANNEL_RE.match(room[1:]))

    def history(self, room: str, since: str | None) -> HistoryPage:
        channel = self._channels.get(room[1:])
        return HistoryPage(messages=[]) if channel is None else channel.history.page(since)

    # -- records -------------------------------------------------------------------------

    def apply(self, partition: int, offset: int, value: bytes) -> list[Emit]:
        """Apply one record; returns what to emit to that room's viewers."""
        record = _decode(value)
        login = record["streamer"]
        room = f"#{login}"
        channel = self._channel(login)
        kind = record["type"]
        if kind in ("message", "notice"):
            message = _to_message(room, record_id(partition, offset), record)
            channel.history.append(message)
            channel.recent.append(time.monotonic())
            return [("receive_message", room, message.to_event())]
        if kind == "delete":
            twitch_id = _str(record, "id")
            gone = channel.history.remove(lambda m: m.extra.get("twitch_id") == twitch_id)
            return [("message_deleted", room, {"room": room, "id": m.id}) for m in gone]
        if kind == "clear":
            username = record.get("username")
            if username is not None and not isinstance(username, str):
                raise BadRecord("clear.username must be a string or null")
            channel.history.remove(lambda m: username is None or m.username == username)
            return [("room_cleared", room, {"room": room, "username": username})]
        raise BadRecord(f"unknown record type {kind!r}")

    def rooms(self) -> list[str]:
        return [f"#{login}" for login in self._channels]

    def status(self, room: str) -> dict[str, Any]:
        """``live_status`` payload: can this room be updated right now?"""
        return {"room": room, "available": self.available}

    def live(self) -> list[dict[str, Any]]:
        """Channels with a record in the last few minutes, busiest first (landing page)."""
        now = time.monotonic()
        rooms = []
        for login, channel in self._channels.items():
            if now - channel.last_seen > LIVE_WINDOW_SECONDS:
                continue
            while channel.recent and now - channel.recent[0] > RATE_WINDOW_SECONDS:
                channel.recent.popleft()
            rooms.append(
                {
                    "room": f"#{login}",
                    "channel": login,
                    "messages_per_minute": len(channel.recent),
                    "seconds_since_last": round(now - channel.last_seen, 1),
                }
            )
        return sorted(rooms, key=lambda r: (-r["messages_per_minute"], r["channel"]))

    def _channel(self, login: str) -> _Channel:
        channel = self._channels.get(login)
        if channel is None:
            channel = self._channels[login] = _Channel(history=CappedHistory(self.history_limit))
        channel.last_seen = time.monotonic()
        return channel


def _decode(value: bytes) -> dict[str, Any]:
    try:
        record = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRecord(f"not JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("v") != 1:
        raise BadRecord("not a v1 record")
    streamer = record.get("streamer")
    if not isinstance(streamer, str) or not CHANNEL_RE.match(streamer):
        raise BadRecord("missing or bad 'streamer'")
    if not isinstance(record.get("type"), str):
        raise BadRecord("missing 'type'")
    return record


def _str(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str):
        raise BadRecord(f"{record.get('type')}.{name} must be a string")
    return value


def _to_message(room: str, message_id: str, record: dict[str, Any]) -> Message:
    """A chat message with Twitch's extras (``display_name``, ``color``, badges, emotes)."""
    username = _str(record, "username")
    if record["type"] == "notice":
        parts = [record.get("system_message"), record.get("message")]
        text = " ".join(p for p in parts if isinstance(p, str) and p)
        extra: dict[str, Any] = {
            "display_name": username,
            "color": None,
            "badges": {},
            "emotes": [],
            "action": False,
            "notice": record.get("notice"),
        }
    else:
        text = _str(record, "message")
        emotes = record.get("emotes") or []
        badges = record.get("badges") or {}
        extra = {
            "display_name": record.get("display_name") or username,
            "color": record.get("color"),
            "badges": badges if isinstance(badges, dict) else {},
            "emotes": emotes if isinstance(emotes, list) else [],
            "action": bool(record.get("action")),
        }
    extra["twitch_id"] = record.get("id")
    return Message(
        id=message_id,
        room=room,
        username=username,
        message=text,
        time=_str(record, "time"),
        extra=extra,
    )
