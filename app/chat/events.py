"""Socket.IO event handlers of the default namespace: parse, call the service, answer.

Every handler returns an acknowledgement (``{"ok": true, ...}`` or ``{"ok": false, "code"}``)
for clients that ask for one, and sends an ``error`` event for anything refused, so classic
clients that only listen for events learn about it too. Nothing raises out of a handler: a
bad payload must never cost the client its connection.

The handlers are python-socketio's own (``server.on``), not Flask-SocketIO's: those push a
Flask app and request context, open the session and match the URL map for every event, which
measured 150-195 us of the 267-318 us a ``send_message`` took (docs/performance.md). The
handlers need none of it: the connection's sid comes as the first argument instead of
``flask.request.sid``, the chat keeps no Flask session (a user's name is bound to the
connection on its first join, in ``Connection``), and nothing here reads the HTTP request.
Flask still serves every HTTP route, and Flask-SocketIO still wraps the WSGI app and owns
the server, so a handler written the Flask-SocketIO way (``@socketio.on``) would still work.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from flask_socketio import SocketIO

from app import metrics
from app.chat.connections import Connection
from app.chat.service import ChatService
from app.chat.validation import ClientError, parse_join, parse_leave, parse_send

log = logging.getLogger(__name__)

# Metric children bound once, not per message (``labels()`` takes a lock and a lookup).
_SENT = metrics.MESSAGES.labels("sent")
_REJECTED = metrics.MESSAGES.labels("rejected")
_UNAVAILABLE = metrics.MESSAGES.labels("unavailable")

Handler = Callable[[Connection, Any], dict[str, Any]]


def register(
    socketio: SocketIO, service: ChatService, on_first_connect: Callable[[], None]
) -> None:
    """Attach the handlers to ``socketio``; ``on_first_connect`` starts background tasks."""
    server = socketio.server

    def handled(event: str) -> Callable[[Handler], Callable[..., dict[str, Any]]]:
        def wrap(fn: Handler) -> Callable[..., dict[str, Any]]:
            @functools.wraps(fn)
            def handler(sid: str, *args: Any) -> dict[str, Any]:
                started = time.perf_counter()
                conn = service.connections.get(sid)
                try:
                    return fn(conn, args[0] if args else None)
                except ClientError as exc:
                    return refuse(conn.sid, exc)
                except Exception:
                    log.exception("unexpected error handling %s", event)
                    return refuse(conn.sid, ClientError("internal", "something went wrong"))
                finally:
                    latency.observe(time.perf_counter() - started)

            latency = metrics.EVENT_LATENCY.labels(event)  # bound once, not per event
            server.on(event, handler, namespace="/")
            return handler

        return wrap

    def refuse(to: str, exc: ClientError) -> dict[str, Any]:
        metrics.ERRORS.labels(exc.code).inc()
        socketio.emit("error", exc.to_event(), to=to)
        return {"ok": False, **exc.to_event()}

    def on_connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        on_first_connect()
        service.connections.open(sid)
        metrics.CONNECTIONS.inc()
        metrics.CONNECTED_CLIENTS.set(len(service.connections))

    def on_disconnect(sid: str, reason: Any = None) -> None:
        try:
            service.disconnect(sid)
        except Exception:
            log.exception("error while cleaning up a disconnected client")
        metrics.CONNECTED_CLIENTS.set(len(service.connections))

    server.on("connect", on_connect, namespace="/")
    server.on("disconnect", on_disconnect, namespace="/")

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
            (_UNAVAILABLE if exc.code == "unavailable" else _REJECTED).inc()
            raise
        _SENT.inc()
        return answer

    @handled("leave_room")
    def on_leave(conn: Connection, data: Any) -> dict[str, Any]:
        service.check_room_event_rate(conn)
        return service.leave(conn, parse_leave(data))

    def on_unknown(event: Any, sid: str, *args: Any) -> dict[str, Any]:
        """Any other event name still gets its documented answer, an ack and an ``error``."""
        return refuse(sid, ClientError("unknown_event", "no such event"))

    server.on("*", on_unknown, namespace="/")
