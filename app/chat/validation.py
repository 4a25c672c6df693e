"""Client event payloads checked and turned into typed requests, or a ``ClientError``.

Each refusal has a stable ``code`` that clients (and tests) can rely on; the ``message`` is for
people. Nothing here touches the network or the store.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from app.clock import parse_id

ROOM_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: A Twitch channel login; its live room is ``#<login>`` (docs/kafka-record.md's ``streamer``).
CHANNEL_RE = re.compile(r"^[a-z0-9_]{1,25}$")
MAX_USERNAME_LENGTH = 32


class ClientError(Exception):
    """A refused event: sent back to the client as ``error {code, message}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_event(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class JoinRequest:
    username: str | None
    room: str
    since: str | None


@dataclass(frozen=True)
class SendRequest:
    room: str
    message: str


@dataclass(frozen=True)
class LeaveRequest:
    room: str


def _payload(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ClientError("invalid_payload", "the event payload must be a JSON object")
    return data


def _string(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        raise ClientError("invalid_field", f"'{name}' is required")
    if not isinstance(value, str):
        raise ClientError("invalid_field", f"'{name}' must be a string")
    return value


def is_twitch_room(room: str) -> bool:
    return room.startswith("#")


def validate_room(room: str) -> str:
    """User rooms are ``[A-Za-z0-9_-]{1,32}``; live Twitch rooms are ``#<channel login>``."""
    if ROOM_RE.match(room) or (is_twitch_room(room) and CHANNEL_RE.match(room[1:])):
        return room
    raise ClientError("invalid_room", "room names are 1-32 letters, digits, '_' or '-'")


def validate_username(raw: str) -> str:
    """1-32 printable characters after trimming; no control or format characters."""
    name = unicodedata.normalize("NFC", raw.strip())
    if not name or len(name) > MAX_USERNAME_LENGTH:
        raise ClientError("invalid_username", f"names are 1-{MAX_USERNAME_LENGTH} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co") for ch in name):
        raise ClientError("invalid_username", "names cannot contain control characters")
    return name


def parse_join(data: Any) -> JoinRequest:
    payload = _payload(data)
    room = validate_room(_string(payload, "room"))
    username = payload.get("username")
    if username is not None and not isinstance(username, str):
        raise ClientError("invalid_field", "'username' must be a string")
    since = payload.get("since")
    if since is not None:
        if not isinstance(since, str):
            raise ClientError("invalid_field", "'since' must be a message id string")
        try:
            parse_id(since)
        except ValueError:
            raise ClientError("invalid_field", "'since' is not a message id") from None
    return JoinRequest(username=username, room=room, since=since)


def parse_send(data: Any, max_length: int) -> SendRequest:
    payload = _payload(data)
    room = validate_room(_string(payload, "room"))
    text = _string(payload, "message")
    if not text.strip():
        raise ClientError("empty_message", "the message is empty")
    if len(text) > max_length:
        raise ClientError("message_too_long", f"messages are at most {max_length} characters")
    if "\x00" in text:
        raise ClientError("invalid_field", "'message' cannot contain NUL characters")
    return SendRequest(room=room, message=text)


def parse_leave(data: Any) -> LeaveRequest:
    payload = _payload(data)
    return LeaveRequest(room=validate_room(_string(payload, "room")))
