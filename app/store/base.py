"""The small interface every chat state backend implements: history and presence.

Handlers only talk to a ``Store``; ``MemoryStore`` keeps state in this process (embedded mode,
``make run``), ``RedisStore`` shares it between replicas. Both are synchronous: under gevent a
Redis round trip yields to other greenlets, so there is no need for async APIs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

#: The room that always exists: never reserved as a new code, never forgotten when idle.
LOBBY = "lobby"


class StoreUnavailable(RuntimeError):
    """The backend cannot be reached; the caller answers the client with ``unavailable``."""


@dataclass(frozen=True)
class Message:
    """One chat message as clients see it in ``receive_message`` and ``history``."""

    id: str
    room: str
    username: str
    message: str
    time: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_event(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "room": self.room,
            "message": self.message,
            "time": self.time,
            **self.extra,
        }


@dataclass(frozen=True)
class HistoryPage:
    """Messages oldest first; ``truncated`` when ``since`` is older than what is still kept."""

    messages: list[Message]
    truncated: bool = False


class CappedHistory:
    """One room's last ``limit`` messages, held in this process.

    It remembers the newest id trimmed away, so a ``since`` older than what is kept is reported
    as ``truncated`` instead of silently skipping the gap. Used by the in-process store and by
    the live Twitch rooms (every replica rebuilds those from Kafka).
    """

    def __init__(self, limit: int) -> None:
        self.messages: deque[Message] = deque(maxlen=limit)
        self.trimmed_through: str | None = None

    def append(self, message: Message) -> None:
        if len(self.messages) == self.messages.maxlen:
            self.trimmed_through = self.messages[0].id
        self.messages.append(message)

    def remove(self, doomed: Callable[[Message], bool]) -> list[Message]:
        """Drop the messages ``doomed`` picks (moderation); returns them."""
        gone = [m for m in self.messages if doomed(m)]
        if gone:
            kept = [m for m in self.messages if not doomed(m)]
            self.messages = deque(kept, maxlen=self.messages.maxlen)
        return gone

    def page(self, since: str | None) -> HistoryPage:
        kept = list(self.messages)
        if since is None:
            return HistoryPage(messages=kept)
        if self.trimmed_through is not None and since < self.trimmed_through:
            return HistoryPage(messages=kept, truncated=True)
        return HistoryPage(messages=[m for m in kept if m.id > since])


class Store(Protocol):
    """History and presence for user rooms and the lobby."""

    def append(self, room: str, username: str, text: str) -> Message:
        """Store a message, assigning its id and server time; trims to the history limit."""
        ...

    def history(self, room: str, since: str | None = None) -> HistoryPage:
        """The last ``history_limit`` messages, or those after ``since`` when it is kept."""
        ...

    def claim(self, room: str, username: str, sid: str) -> bool:
        """Add ``sid`` as ``username`` to the room; False if a live connection holds the name."""
        ...

    def release(self, room: str, username: str, sid: str) -> None:
        """Remove the connection from the room's members (no-op if it is not there)."""
        ...

    def members(self, room: str) -> list[str]:
        """Names currently in the room, sorted case-insensitively."""
        ...

    def exists(self, room: str) -> bool:
        """True for the lobby and for a room with history, members or a reserved code."""
        ...

    def reserve_room(self, room: str) -> bool:
        """Mark a new room code as taken; False if it already exists (collision)."""
        ...

    def heartbeat(self, sids: list[tuple[str, str, str]]) -> dict[str, list[str]]:
        """Keep (room, username, sid) entries alive; entries not refreshed expire.

        Returns the rooms among these whose member list changed by expiry (or by re-adding an
        entry the backend lost), each with the names that expired, for the caller to announce.
        """
        ...

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` when the backend does not answer (readiness)."""
        ...

    def cleanup(self) -> int:
        """Forget idle empty rooms; returns how many were removed."""
        ...
