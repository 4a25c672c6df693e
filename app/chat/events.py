"""Socket.IO event handlers of the default namespace: parse, call the service, answer.

Every handler returns an acknowledgement (``{"ok": true, ...}`` or ``{"ok": false, "code"}``)
for clients that ask for one, and sends an ``error`` event for anything refused, so classic
clients that only listen for events learn about it too. Nothing raises out of a handler: a
bad payload must never cost the client its connection.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import request
from flask_socketio import SocketIO

from app import metrics
from app.chat.connections import Connection
from app.chat.service import ChatService
from app.chat.validation import ClientError, parse_join, parse_leave, parse_send

log = logging.getLogger(__name__)

Handler = Callable[[Connection, Any], dict[str, Any]]


def register(
    socketio: SocketIO, service: ChatService, on_first_connect: Callable[[], None]
) -> None:
    """Attach the handlers to ``socketio``; ``on_first_connect`` starts background tasks."""

    def sid() -> str:
        return str(request.sid)  # type: ignore[attr-defined]

    def handled(event: str) -> Callable[[Handler], Callable[..., dict[str, Any]]]:
        def wrap(fn: Handler) -> Callable[..., dict[str, Any]]:
            @functools.wraps(fn)
            def handler(*args: Any) -> dict[str, Any]:
                started = time.perf_counter()
                conn = service.connections.get(sid())
                try:
                    return fn(conn, args[0] if args else None)
                except ClientError as exc:
                    return refuse(conn.sid, exc)
                except Exception:
                    log.exception("unexpected error handling %s", event)
                    return refuse(conn.sid, ClientError("internal", "something went wrong"))
                finally:
                    metrics.EVENT_LATENCY.labels(event).observe(time.perf_counter() - started)

            socketio.on_event(event, handler)
            return handler

        return wrap

    def refuse(to: str, exc: ClientError) -> dict[str, Any]:
        metrics.ERRORS.labels(exc.code).inc()
        socketio.emit("error", exc.to_event(), to=to)
        return {"ok": False, **exc.to_event()}

    @socketio.on("connect")
    def on_connect(auth: Any = None) -> None:
        on_first_connect()
        service.connections.open(sid())
        metrics.CONNECTIONS.inc()
        metrics.CONNECTED_CLIENTS.set(len(service.connections))

    @socketio.on("disconnect")
    def on_disconnect(reason: Any = None) -> None:
        try:
            service.disconnect(sid())
        except Exception:
            log.exception("error while cleaning up a disconnected client")
        metrics.CONNECTED_CLIENTS.set(len(service.connections))

    @handled("join_room")
    def on_join(conn: Connection, data: Any) -> dict[str, Any]:
        service.check_room_event_rate(conn)
        return service.join(conn, parse_join(data))

    @handled("send_message")
    def on_send(conn: Connection, data: Any) -> dict[str, Any]:
        """Counts every outcome here, the one place that sees them all."""
        try:
            service.check_message_rate(conn)
            answer = service.send(conn, parse_send(data, service.max_message_length))
        except ClientError as exc:
            outcome = "unavailable" if exc.code == "unavailable" else "rejected"
            metrics.MESSAGES.labels(outcome).inc()
            raise
        metrics.MESSAGES.labels("sent").inc()
        return answer

    @handled("leave_room")
    def on_leave(conn: Connection, data: Any) -> dict[str, Any]:
        service.check_room_event_rate(conn)
        return service.leave(conn, parse_leave(data))

    @socketio.on("*")
    def on_unknown(event: Any, *args: Any) -> dict[str, Any]:
        """Any other event name still gets its documented answer, an ack and an ``error``."""
        return refuse(sid(), ClientError("unknown_event", "no such event"))
