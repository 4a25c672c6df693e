"""What this replica knows about each of its own Socket.IO connections."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.chat.ratelimit import TokenBucket

#: Joins and leaves are not chat, but a loop of them still costs every member an event.
ROOM_EVENT_RATE = 10.0
ROOM_EVENT_BURST = 20


@dataclass
class Connection:
    """A connection's bound name (set by its first join), its rooms and its flood buckets."""

    sid: str
    messages: TokenBucket
    room_events: TokenBucket = field(
        default_factory=lambda: TokenBucket(ROOM_EVENT_RATE, ROOM_EVENT_BURST)
    )
    username: str | None = None
    rooms: set[str] = field(default_factory=set)


class Connections:
    """The registry of live connections on this replica, keyed by Socket.IO sid."""

    def __init__(self, message_rate: float, message_burst: int) -> None:
        self._rate = message_rate
        self._burst = message_burst
        self._by_sid: dict[str, Connection] = {}

    def open(self, sid: str) -> Connection:
        conn = Connection(sid=sid, messages=TokenBucket(self._rate, self._burst))
        self._by_sid[sid] = conn
        return conn

    def get(self, sid: str) -> Connection:
        conn = self._by_sid.get(sid)
        return conn if conn is not None else self.open(sid)

    def close(self, sid: str) -> Connection | None:
        return self._by_sid.pop(sid, None)

    def memberships(self) -> list[tuple[str, str, str]]:
        """(room, username, sid) for every joined room of every connection (heartbeats)."""
        return [
            (room, conn.username, conn.sid)
            for conn in self._by_sid.values()
            if conn.username is not None
            for room in conn.rooms
        ]

    def sids(self) -> list[str]:
        return list(self._by_sid)

    def __len__(self) -> int:
        return len(self._by_sid)
