"""Chat events to Kafka records, as docs/kafka-record.md and its JSON Schema describe them.

A record's key is the channel login; its value is one compact JSON object with ``"v": 1``,
a ``type`` (message, delete, clear, notice) and an ``order`` that strictly increases for every
record this process builds. ``order`` is seeded from the wall clock in microseconds, so it
usually keeps increasing across restarts too (records replayed from the spool keep theirs).
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from ingest.irc.twitch import ChatEvent, ClearChat, ClearMsg, PrivMsg, parse_badges
from ingest.irc.twitch import parse_emotes as parse_emote_tag

SCHEMA_VERSION = 1
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record: ``key`` is the channel, ``value`` the JSON object as bytes."""

    key: str
    value: bytes
    type: str
    dedup_key: str
    """Twitch's message id when the event has one, else the raw line (CLEARCHAT...)."""


def format_time(epoch_ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds: ``2026-11-21T20:15:03.123Z``."""
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def emotes_of(text: str, raw: str) -> list[dict[str, Any]]:
    """The ``emotes`` tag as records, each named by the text it covers.

    Twitch counts positions in Unicode characters (code points), which is how Python
    indexes ``str``; a range past the end of the text is dropped, not guessed at.
    """
    return [
        {"id": e.id, "name": text[e.start : e.end + 1], "start": e.start, "end": e.end}
        for e in parse_emote_tag(raw)
        if e.end < len(text)
    ]


class RecordBuilder:
    """Builds records with a strictly increasing ``order``; not thread-safe by itself."""

    def __init__(self, first_order: int | None = None) -> None:
        start = time.time_ns() // 1000 if first_order is None else first_order
        self._order = itertools.count(start)

    def build(self, event: ChatEvent, received_ms: int, raw_line: str) -> Record:
        """The record for ``event``; ``received_ms`` stands in for a missing tmi-sent-ts."""
        kind, fields, dedup_key = _type_fields(event)
        value: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "type": kind,
            "order": next(self._order),
            "streamer": event.channel,
            "time": format_time(event.sent_ms if event.sent_ms is not None else received_ms),
            **fields,
        }
        payload = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        return Record(event.channel, payload, kind, dedup_key or raw_line)


def _type_fields(event: ChatEvent) -> tuple[str, dict[str, Any], str | None]:
    """(record type, the fields only that type has, Twitch's message id if the event has one)."""
    if isinstance(event, PrivMsg):
        tags = event.tags
        color = tags.get("color", "")
        return (
            "message",
            {
                "username": event.login,
                "message": event.text,
                "id": event.id,
                "display_name": tags.get("display-name") or event.login,
                "color": color.upper() if _COLOR.match(color) else None,
                "badges": parse_badges(tags.get("badges", "")),
                "emotes": emotes_of(event.text, tags.get("emotes", "")),
                "action": event.action,
            },
            event.id,
        )
    if isinstance(event, ClearMsg):
        return "delete", {"id": event.target_id, "username": event.login}, None
    if isinstance(event, ClearChat):
        return "clear", {"username": event.login, "duration": event.duration}, None
    return (
        "notice",
        {
            "id": event.id,
            "username": event.login,
            "notice": event.kind,
            "system_message": event.system_message,
            "message": event.text,
        },
        event.id,
    )
