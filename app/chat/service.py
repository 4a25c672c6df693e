"""The chat's rules: who may join, speak and leave, and what every member is told.

Socket.IO handlers (``events.py``) stay thin: they parse the payload, call one method here and
turn a ``ClientError`` into an ``error`` event. This module never sees raw payloads.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Protocol

from flask_socketio import SocketIO

from app import metrics
from app.chat.connections import Connection, Connections
from app.chat.validation import (
    ClientError,
    JoinRequest,
    LeaveRequest,
    SendRequest,
    is_twitch_room,
    looks_like_any,
    validate_username,
)
from app.clock import iso_time, now_ms
from app.store import HistoryPage, Store, StoreUnavailable

log = logging.getLogger(__name__)


class LiveRooms(Protocol):
    """Read-only rooms fed from elsewhere (the Kafka-fed Twitch rooms)."""

    def exists(self, room: str) -> bool: ...

    def history(self, room: str, since: str | None) -> HistoryPage: ...

    def status(self, room: str) -> dict[str, Any]: ...


class RoomFeed(Protocol):
    """Delivery of other replicas' events for the rooms this replica hosts (the message queue).

    ``hold`` on every local join returns once events of the room reach this replica (the first
    join of a room subscribes and waits for Redis to confirm); ``release`` on every leave.
    """

    def hold(self, room: str) -> None: ...

    def release(self, room: str) -> None: ...


class ChatService:
    """Joins, messages and leaves for one replica's connections."""

    def __init__(
        self,
        socketio: SocketIO,
        store: Store,
        connections: Connections,
        max_message_length: int,
        live_rooms: LiveRooms | None = None,
        feed: RoomFeed | None = None,
    ) -> None:
        self.socketio = socketio
        self.feed = feed
        self.max_message_length = max_message_length
        self.store = store
        self.connections = connections
        self.live_rooms = live_rooms

    # -- client events -------------------------------------------------------------------

    def join(self, conn: Connection, request: JoinRequest) -> dict[str, Any]:
        username = conn.username
        if username is None:
            if request.username is None:
                raise ClientError("invalid_field", "'username' is required on the first join")
            username = validate_username(request.username)
        if is_twitch_room(request.room) and not (
            self.live_rooms and self.live_rooms.exists(request.room)
        ):
            raise ClientError("room_not_found", f"no live Twitch room {request.room}")
        rejoin = request.room in conn.rooms
        try:
            # The store's claim compares ``name_key``s atomically; the members' shown forms are
            # compared here too (``display_skeleton``), for what case folding hides.
            if not rejoin and (
                looks_like_any(username, self.store.members(request.room))
                or not self.store.claim(request.room, username, conn.sid)
            ):
                raise ClientError(
                    "name_taken",
                    f"'{username}' is taken in {request.room} (or looks like a name there);"
                    " pick another name",
                )
        except StoreUnavailable:
            raise ClientError("unavailable", "chat storage is unreachable; try again") from None
        conn.username = username
        # Receive the room's events before reading history: a message stored in between then
        # arrives live (and maybe in history too; clients drop repeats by id) instead of being
        # lost. That is this replica's subscription to the room (confirmed by Redis before
        # ``hold`` returns) and this connection's place in the room.
        if not rejoin and self.feed is not None:
            try:
                self.feed.hold(request.room)  # undoes itself when it raises
            except ConnectionError:
                with contextlib.suppress(StoreUnavailable):
                    self.store.release(request.room, username, conn.sid)
                raise ClientError("unavailable", "chat storage is unreachable; try again") from None
        try:
            self.socketio.server.enter_room(conn.sid, request.room, namespace="/")
            page = self.history(request.room, request.since)
        except StoreUnavailable:
            if not rejoin:
                self._undo_join(conn.sid, request.room, username)
            raise ClientError("unavailable", "chat storage is unreachable; try again") from None
        conn.rooms.add(request.room)
        self.socketio.emit(
            "history",
            {
                "room": request.room,
                "messages": [m.to_event() for m in page.messages],
                "truncated": page.truncated,
            },
            to=conn.sid,
        )
        if is_twitch_room(request.room) and self.live_rooms is not None:
            self.socketio.emit("live_status", self.live_rooms.status(request.room), to=conn.sid)
        if not rejoin:
            metrics.JOINS.inc()
            self.announce("join_room_announcement", request.room, username)
            self.send_presence(request.room)
        return {"ok": True, "room": request.room, "username": username}

    def send(self, conn: Connection, request: SendRequest) -> dict[str, Any]:
        if is_twitch_room(request.room):
            raise ClientError("read_only", f"{request.room} is a read-only live Twitch room")
        if request.room not in conn.rooms or conn.username is None:
            raise ClientError("not_in_room", f"join {request.room} before sending to it")
        try:
            message = self.store.append(request.room, conn.username, request.message)
        except StoreUnavailable:
            raise ClientError("unavailable", "the message was not sent; try again") from None
        # The store published it for the other replicas (one round trip, stored iff published).
        self.socketio.emit(
            "receive_message", message.to_event(), to=request.room, ignore_queue=True
        )
        return {"ok": True, "id": message.id, "time": message.time}

    def leave(self, conn: Connection, request: LeaveRequest) -> dict[str, Any]:
        if request.room not in conn.rooms or conn.username is None:
            raise ClientError("not_in_room", f"you are not in {request.room}")
        self._leave(conn, request.room)
        return {"ok": True, "room": request.room}

    def disconnect(self, sid: str) -> None:
        conn = self.connections.close(sid)
        if conn is None:
            return
        for room in sorted(conn.rooms):
            self._leave(conn, room)

    def check_message_rate(self, conn: Connection) -> None:
        """Every ``send_message`` takes a token, valid or not: refusals cost the server too."""
        if not conn.messages.allow():
            raise ClientError("rate_limited", "too many messages; slow down")

    def check_room_event_rate(self, conn: Connection) -> None:
        if not conn.room_events.allow():
            raise ClientError("rate_limited", "too many join/leave events; slow down")

    # -- helpers -------------------------------------------------------------------------

    def history(self, room: str, since: str | None = None) -> HistoryPage:
        """A user room's history from the store, a Twitch room's from the Kafka-fed rooms."""
        if is_twitch_room(room) and self.live_rooms is not None:
            return self.live_rooms.history(room, since)
        return self.store.history(room, since)

    def room_exists(self, room: str) -> bool:
        """A live Twitch room, or a user room the store knows (messages, members or a code)."""
        if is_twitch_room(room):
            return self.live_rooms is not None and self.live_rooms.exists(room)
        return self.store.exists(room)

    def _undo_join(self, sid: str, room: str, username: str) -> None:
        self.socketio.server.leave_room(sid, room, namespace="/")
        if self.feed is not None:
            self.feed.release(room)
        with contextlib.suppress(StoreUnavailable):
            self.store.release(room, username, sid)

    def _leave(self, conn: Connection, room: str) -> None:
        conn.rooms.discard(room)
        self.socketio.server.leave_room(conn.sid, room, namespace="/")
        if self.feed is not None:
            self.feed.release(room)
        assert conn.username is not None
        try:
            self.store.release(room, conn.username, conn.sid)
        except StoreUnavailable:
            log.warning("could not release %s from %s: store unavailable", conn.sid, room)
        self.announce("leave_room_announcement", room, conn.username)
        self.send_presence(room)

    def announce(self, event: str, room: str, username: str) -> None:
        """A join or leave line to the whole room (also used for members whose replica died)."""
        self.socketio.emit(
            event, {"username": username, "room": room, "time": iso_time(now_ms())}, to=room
        )

    def send_presence(self, room: str) -> None:
        """The room's member list to the room; skipped while the store is unreachable."""
        try:
            users = self.store.members(room)
        except StoreUnavailable:
            return
        self.socketio.emit("presence", {"room": room, "users": users}, to=room)
