"""Client event payloads checked and turned into typed requests, or a ``ClientError``.

Each refusal has a stable ``code`` that clients (and tests) can rely on; the ``message`` is for
people. Nothing here touches the network or the store.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import icu  # PyICU: Unicode's own normalization, properties and TS #39 confusables data

from app.clock import parse_id

# ``\Z``, never ``$``: ``$`` also matches before a final newline, which let ``"lobby\n"``
# create a second room shown as ``lobby``.
ROOM_RE = re.compile(r"\A[A-Za-z0-9_-]{1,32}\Z")
#: A Twitch channel login; its live room is ``#<login>`` (docs/kafka-record.md's ``streamer``).
CHANNEL_RE = re.compile(r"\A[a-z0-9_]{1,25}\Z")
MAX_USERNAME_LENGTH = 32

#: NFKC with Unicode case folding (``NFKC_Casefold``): fullwidth ``ALICE`` (U+FF21...),
#: ``Alice`` and ``alice`` are one name. It also drops default-ignorable code points, which is
#: why names holding any are refused rather than folded (see ``_INVISIBLE``).
_FOLD = icu.Normalizer2.getNFKCCasefoldInstance()
#: Unicode TS #39 skeletons (ICU's SpoofChecker, data from Unicode's confusables.txt): Cyrillic
#: ``a`` (U+0430) and Latin ``a`` share one.
_SPOOF = icu.SpoofChecker()
#: What a name may not hold: default-ignorable code points (zero-width characters, the Hangul
#: fillers U+115F, U+1160, U+3164, U+FFA0, variation selectors, ...), controls, format characters,
#: private-use, surrogates, unassigned code points, line and paragraph separators, and U+2800
#: BRAILLE PATTERN BLANK, a visible-width blank that no property marks as ignorable.
_INVISIBLE = icu.UnicodeSet(
    "[[:Default_Ignorable_Code_Point:][:Cc:][:Cf:][:Co:][:Cs:][:Cn:][:Zl:][:Zp:][\u2800]]"
)


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


def _has_lone_surrogate(text: str) -> bool:
    """JSON may carry ``\\ud800`` alone; such a string cannot be encoded (Redis refuses it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def validate_username(raw: str) -> str:
    """1-32 visible characters after trimming, shown as typed (NFC).

    Refused: anything in ``_INVISIBLE`` (so no name can hide characters a reader cannot see)
    and names that fold to nothing. Equality between names is ``name_key``'s business.
    """
    if _has_lone_surrogate(raw):
        raise ClientError("invalid_username", "names must be valid Unicode text")
    name = unicodedata.normalize("NFC", raw.strip())
    if not name or len(name) > MAX_USERNAME_LENGTH:
        raise ClientError("invalid_username", f"names are 1-{MAX_USERNAME_LENGTH} characters")
    if _INVISIBLE.containsSome(name):
        raise ClientError(
            "invalid_username", "names cannot contain invisible, control or filler characters"
        )
    if not name_key(name).strip():
        raise ClientError("invalid_username", "names need at least one visible character")
    return name


@functools.lru_cache(maxsize=8192)
def name_key(name: str) -> str:
    """What two names must not share in one room: the TS #39 skeleton of NFKC_Casefold(name).

    Case folding first makes the comparison case-insensitive (``ALICE`` is ``alice``); the
    skeleton then maps each character to its confusables prototype (Cyrillic U+0430 to ``a``,
    fullwidth forms were already folded by NFKC); folding again keeps the key case-free when a
    prototype is an upper-case letter. Stores key their member lists by it.
    """
    folded = _FOLD.normalize(name)
    return str(_FOLD.normalize(_SPOOF.getSkeleton(0, folded)))


@functools.lru_cache(maxsize=8192)
def display_skeleton(name: str) -> str:
    """The TS #39 skeleton of the name as shown (NFKC, no case folding).

    ``name_key`` folds case first, so it cannot see that a capital ``I`` or Cyrillic palochka
    (U+04C0) looks like ``l``: folded they become ``i`` and U+04CF, whose prototype is ``i``.
    Comparing the shown forms' skeletons as well closes that gap.
    """
    return str(_SPOOF.getSkeleton(0, unicodedata.normalize("NFKC", name)))


def looks_like_any(name: str, others: list[str]) -> bool:
    """True if ``name`` is confusable with one of ``others`` (a room's present members)."""
    key, shown = name_key(name), display_skeleton(name)
    return any(name_key(o) == key or display_skeleton(o) == shown for o in others)


def _visible(text: str) -> bool:
    """True if ``text`` has a character that is neither white space nor invisible."""
    return any(not ch.isspace() and not _INVISIBLE.contains(ch) for ch in text)


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
    if len(text) > max_length:
        raise ClientError("message_too_long", f"messages are at most {max_length} characters")
    if _has_lone_surrogate(text):
        raise ClientError("invalid_field", "'message' must be valid Unicode text")
    if "\x00" in text:
        raise ClientError("invalid_field", "'message' cannot contain NUL characters")
    if not _visible(text):
        raise ClientError("empty_message", "the message is empty")
    return SendRequest(room=room, message=text)


def parse_leave(data: Any) -> LeaveRequest:
    payload = _payload(data)
    return LeaveRequest(room=validate_room(_string(payload, "room")))
