"""In-process chat state: the embedded default when ``REDIS_URL`` is unset.

Everything lives in this worker's memory, so it is lost on restart and not shared; that is
the point of ``make run`` on a laptop. Under gevent no method here yields, so no locks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from app.chat.validation import name_key
from app.clock import IdClock
from app.store.base import LOBBY, CappedHistory, HistoryPage, Message


@dataclass
class _Room:
    history: CappedHistory
    members: dict[str, tuple[str, str]] = field(default_factory=dict)  # name_key -> (name, sid)
    last_activity: float = field(default_factory=time.monotonic)


class MemoryStore:
    """``Store`` kept in a dict of rooms; idle empty rooms go after ``room_ttl_seconds``."""

    def __init__(self, history_limit: int, room_ttl_seconds: int) -> None:
        self.history_limit = history_limit
        self.room_ttl_seconds = room_ttl_seconds
        self._rooms: dict[str, _Room] = {}
        self._clock = IdClock()

    def _room(self, room: str) -> _Room:
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = _Room(history=CappedHistory(self.history_limit))
        state.last_activity = time.monotonic()
        return state

    def append(self, room: str, username: str, text: str) -> Message:
        state = self._room(room)
        message_id, stamp = self._clock.next()
        message = Message(id=message_id, room=room, username=username, message=text, time=stamp)
        state.history.append(message)
        return message

    def history(self, room: str, since: str | None = None) -> HistoryPage:
        state = self._rooms.get(room)
        return HistoryPage(messages=[]) if state is None else state.history.page(since)

    def claim(self, room: str, username: str, sid: str) -> bool:
        members = self._room(room).members
        key = name_key(username)
        holder = members.get(key)
        if holder is not None and holder[1] != sid:
            return False
        members[key] = (username, sid)
        return True

    def release(self, room: str, username: str, sid: str) -> None:
        state = self._rooms.get(room)
        if state is None:
            return
        key = name_key(username)
        if state.members.get(key, ("", ""))[1] == sid:
            del state.members[key]
        state.last_activity = time.monotonic()

    def members(self, room: str) -> list[str]:
        state = self._rooms.get(room)
        if state is None:
            return []
        return sorted((name for name, _ in state.members.values()), key=str.casefold)

    def exists(self, room: str) -> bool:
        return room == LOBBY or room in self._rooms

    def reserve_room(self, room: str) -> bool:
        if room == LOBBY or room in self._rooms:
            return False
        self._room(room)
        return True

    def heartbeat(self, sids: list[tuple[str, str, str]]) -> dict[str, list[str]]:
        """Nothing to refresh: a dead connection's entries go with its disconnect handler."""
        return {}

    def ping(self) -> None:
        """Always reachable."""

    def cleanup(self) -> int:
        cutoff = time.monotonic() - self.room_ttl_seconds
        idle = [
            name
            for name, state in self._rooms.items()
            if name != LOBBY and not state.members and state.last_activity < cutoff
        ]
        for name in idle:
            del self._rooms[name]
        return len(idle)
