"""One replica's running state: store, connections, service, background tasks, shutdown.

The factory builds one ``Livechat`` per Flask app and keeps it in
``app.extensions["livechat"]``, so HTTP routes, Socket.IO handlers and the gunicorn worker all
reach the same objects without module globals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask_socketio import SocketIO

from app import metrics
from app.chat.connections import Connections
from app.chat.ratelimit import KeyedBuckets
from app.chat.service import ChatService, RoomFeed
from app.config import Settings
from app.origin import origin_policy
from app.store import Store, StoreUnavailable
from app.twitch.consumer import TwitchConsumer
from app.twitch.rooms import TwitchRooms

log = logging.getLogger(__name__)

CLEANUP_INTERVAL_SECONDS = 60.0
SHUTDOWN_SWEEP_SECONDS = 0.5


class Livechat:
    """Owns the replica's collaborators and the greenlets that keep them healthy."""

    def __init__(
        self,
        settings: Settings,
        socketio: SocketIO,
        store: Store,
        live_rooms: TwitchRooms | None = None,
        feed: RoomFeed | None = None,
    ) -> None:
        self.settings = settings
        self.socketio = socketio
        self.store = store
        self.live_rooms = live_rooms
        self.connections = Connections(settings.rate_limit_messages, settings.rate_limit_burst)
        self.service = ChatService(
            socketio, store, self.connections, settings.max_message_length, live_rooms, feed
        )
        #: The Socket.IO endpoint's origin rule, shared by ``POST /api/rooms``.
        self.origin_allowed = origin_policy(settings.cors_allowed_origins)
        #: ``POST /api/rooms`` per client address: ``ROOM_CREATION_PER_MINUTE``, same burst.
        self.room_creation = KeyedBuckets(
            settings.room_creation_per_minute / 60.0, settings.room_creation_per_minute
        )
        self.draining = False
        self.readiness_checks: dict[str, Callable[[], None]] = {"store": store.ping}
        self.twitch_consumer: TwitchConsumer | None = None
        if live_rooms is not None and settings.kafka_bootstrap_servers:
            self.twitch_consumer = TwitchConsumer(
                settings.kafka_bootstrap_servers,
                settings.kafka_topic,
                settings.kafka_history_scan,
                live_rooms,
                emit=self._emit_local,
                sleep=socketio.sleep,
            )
            self.readiness_checks["kafka"] = self.twitch_consumer.check
        self._tasks_started = False
        self.metrics_registry = metrics.readiness_registry(lambda: not self.failing_dependencies())

    def failing_dependencies(self) -> list[str]:
        """Names of the dependencies that do not answer now (``/readyz``)."""
        failing = ["shutdown"] if self.draining else []
        for name, check in self.readiness_checks.items():
            try:
                check()
            except Exception:
                failing.append(name)
        metrics.STORE_UP.set(0 if "store" in failing else 1)
        return failing

    def _emit_local(self, event: str, room: str, payload: dict[str, object]) -> None:
        """To this replica's own viewers only: every replica reads Kafka itself."""
        self.socketio.emit(event, payload, to=room, ignore_queue=True)

    def start_background_tasks(self) -> None:
        """Started inside the serving worker (first request or connection), never at import."""
        if self._tasks_started:
            return
        self._tasks_started = True
        if self.twitch_consumer is not None:
            self.socketio.start_background_task(self.twitch_consumer.run)
        self.socketio.start_background_task(self._cleanup_loop)
        self.socketio.start_background_task(self._heartbeat_loop)

    def serve_internal(self) -> None:
        """Metrics and readiness on ``METRICS_HOST:METRICS_PORT`` (gunicorn's worker calls it)."""
        from app.internal import serve_internal

        serve_internal(self, self.settings.metrics_host, self.settings.metrics_port)

    def _cleanup_loop(self) -> None:
        while not self.draining:
            self.socketio.sleep(CLEANUP_INTERVAL_SECONDS)
            try:
                metrics.ROOMS_CLEANED.inc(self.store.cleanup())
            except StoreUnavailable:
                log.warning("room cleanup skipped: store unavailable")
            except Exception:
                log.exception("room cleanup failed")

    def _heartbeat_loop(self) -> None:
        """Refresh this replica's presence entries well inside their expiry.

        The same call prunes members whose replica stopped refreshing them (it crashed) in the
        rooms this replica serves; their leave and the new member list are announced from
        here, through the message queue, so every replica's clients see the ghost go.
        """
        while not self.draining:
            self.socketio.sleep(self.settings.presence_heartbeat_seconds)
            try:
                self._heartbeat()
            except StoreUnavailable:
                log.warning("presence heartbeat skipped: store unavailable")
            except Exception:
                log.exception("presence heartbeat failed")

    def _heartbeat(self) -> None:
        entries = self.connections.memberships()
        changed = self.store.heartbeat(entries)
        # A member who left while the heartbeat was in flight may have been re-added by it.
        for room, username, sid in set(entries) - set(self.connections.memberships()):
            self.store.release(room, username, sid)
        for room, expired in changed.items():
            for username in expired:
                log.info("%s expired from %s (its replica stopped refreshing it)", username, room)
                self.service.announce("leave_room_announcement", room, username)
            self.service.send_presence(room)

    def shutdown(self) -> None:
        """Graceful stop: turn unready, say goodbye for every member, close every connection.

        Clients reconnect (to another replica behind the Service) and rejoin with ``since``.
        """
        if self.draining:
            return
        self.draining = True
        if self.twitch_consumer is not None:
            self.twitch_consumer.stopped = True
        log.info("shutting down: disconnecting %d clients", len(self.connections))
        self._disconnect_all()
        # gunicorn closes its listening socket within a second of the signal; anyone who
        # reconnected here in between is sent on too, until the worker exits.
        deadline = time.monotonic() + self.settings.graceful_timeout
        while time.monotonic() < deadline:
            self.socketio.sleep(SHUTDOWN_SWEEP_SECONDS)
            if len(self.connections):
                self._disconnect_all()

    def _disconnect_all(self) -> None:
        for sid in self.connections.sids():
            try:
                self.service.disconnect(sid)
                self.socketio.server.disconnect(sid, namespace="/")
            except Exception:
                log.exception("error while disconnecting %s", sid)
        metrics.CONNECTED_CLIENTS.set(len(self.connections))
