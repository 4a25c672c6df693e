"""The Engine.IO / Socket.IO wire as a hostile client speaks it: each bad packet, a clean answer.

python-engineio and python-socketio assume a well-behaved peer. Fed garbage they raise from
deep inside a transport, and the answer depends on where: a traceback per packet in the log, an
``HTTP/1.1 500`` page written into an open WebSocket, a polling POST that never answers
(``Socket.close(wait=True)`` waits for a GET that will not come), or a ``200 OK`` for a payload
whose packets were all dropped. This module checks everything a client sends before those
libraries see it, at the three places it enters:

- **HTTP** (``WireGuard``, WSGI middleware around the Socket.IO endpoint): the per-address
  connection limit on new sessions; polling POST bodies read with a bound, refused with 413
  (too large) or 400 (truncated, not UTF-8, too many packets, a packet a client may not send),
  and the session closed without waiting. Refusals are answered at once.
- **WebSocket frames** (``guard_websocket``): at most ``max_size`` bytes per message
  (simple-websocket closes with 1009 instead of buffering a frame of any size); binary frames
  closed with 1003 and undecodable or unexpected packets with 1002, before engineio parses them.
- **Socket.IO packets** (``PacketGuard``): decoded once here, with every error caught
  (bad JSON, nesting deep enough for ``RecursionError``, a non-string event name, binary
  attachments, client ACKs we never asked for, a second CONNECT); a refused packet gets
  ``error {code: "malformed_packet"}`` plus an ack when it carried an id, and a connection
  that keeps sending garbage is closed.

Every refusal is counted in ``livechat_malformed_input_total{reason}`` and logged through a
``LogBudget``: a bounded number of lines per minute, never a traceback per packet.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from engineio.payload import Payload
from socketio import packet as sio_packet

from app import metrics
from app.chat.ratelimit import TokenBucket
from app.logbudget import LogBudget

log = logging.getLogger(__name__)

#: Engine.IO packets in one polling POST (python-engineio's own limit is 16, beyond which it
#: dropped the whole payload and still answered 200). A browser batches whatever it buffered
#: while the previous POST was in flight; more than this is refused with 400, never dropped.
MAX_PACKETS_PER_POST = 64

#: Malformed Socket.IO packets a connection may send: a burst, then one per this many seconds;
#: beyond that the connection is closed (a real client never sends one).
MALFORMED_BURST = 10
MALFORMED_RATE = 0.5

#: Event names python-socketio dispatches to its own handlers: never a client event.
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error"})

#: WebSocket close codes (RFC 6455 section 7.4.1).
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_TOO_BIG = 1009

#: Type, optional attachments, optional namespace and optional ack id of a Socket.IO packet,
#: read without decoding its JSON (to answer the ack of a packet whose JSON is broken).
_HEADER = re.compile(r"([0-6])(?:\d+-)?(?:(/[^,]*),)?(\d{1,15})?")

Refusal = tuple[str, Iterable[bytes]]


def engineio_problem(data: str | bytes, transport: str) -> str | None:
    """Why a client's Engine.IO packet is refused, or None if engineio may take it.

    A client sends a message (``4`` plus a Socket.IO packet, which starts with a digit), a pong
    (``3``), a close (``1``), and during the upgrade to WebSocket ``2probe`` and ``5``. Anything
    else made engineio raise (over polling a NOOP or PING hung the POST for good), drop a
    payload, or parse JSON of unbounded depth.
    """
    if not isinstance(data, str):
        return "binary_frame"
    if not data:
        return "empty_packet"
    kind = data[0]
    if kind == "4":
        return None if len(data) > 1 and "0" <= data[1] <= "6" else "bad_message_packet"
    if data in ("1", "3", "5"):
        return None
    if data == "2probe" and transport == "websocket":
        return None
    if kind == "b":
        return "binary_frame"
    return "bad_packet_type"


class WireGuard:
    """WSGI middleware in front of Flask-SocketIO's: the HTTP side of the Socket.IO endpoint."""

    def __init__(
        self,
        wsgi_app: Any,
        eio_server: Any,
        max_body: int,
        max_connections_per_address: int,
        log_budget: LogBudget,
        path: str = "/socket.io",
    ) -> None:
        self.app = wsgi_app
        self.eio = eio_server
        self.max_body = max_body
        self.limit = max_connections_per_address
        self.log_budget = log_budget
        self.path = path.rstrip("/") + "/"
        #: Open Engine.IO sessions by client address, and each session's address.
        self.sessions: Tally[str] = Tally()
        self._address_of: dict[str, str] = {}
        Payload.max_decode_packets = MAX_PACKETS_PER_POST
        self._track_sessions()

    # -- session bookkeeping ------------------------------------------------------------------

    def _track_sessions(self) -> None:
        """Count sessions per address through engineio's own connect and disconnect events."""
        handlers = self.eio.handlers
        on_connect, on_disconnect = handlers.get("connect"), handlers.get("disconnect")

        def connect(eio_sid: str, environ: dict[str, Any], *args: Any) -> Any:
            address = str(environ.get("REMOTE_ADDR") or "")
            self._address_of[eio_sid] = address
            self.sessions[address] += 1
            return on_connect(eio_sid, environ, *args) if on_connect else None

        def disconnect(eio_sid: str, *args: Any) -> Any:
            address = self._address_of.pop(eio_sid, None)
            if address is not None:
                self.sessions[address] -= 1
                if self.sessions[address] <= 0:
                    del self.sessions[address]
            return on_disconnect(eio_sid, *args) if on_disconnect else None

        handlers["connect"], handlers["disconnect"] = connect, disconnect

    # -- requests -----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not str(environ.get("PATH_INFO", "")).startswith(self.path):
            return self.app(environ, start_response)
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        sid = query.get("sid", [None])[0]
        method = environ.get("REQUEST_METHOD")
        refusal: Refusal | None = None
        address = str(environ.get("REMOTE_ADDR") or "")
        if "j" in query:
            refusal = self._malformed(
                address, "jsonp", "400 Bad Request", "JSONP polling is not served"
            )
        elif sid is None and method == "GET":
            refusal = self._check_new_session(environ)
        elif sid is not None and method == "POST":
            refusal = self._check_post(environ, sid, address)
        if refusal is not None:
            status, body = refusal
            start_response(
                status,
                [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
            )
            return body
        return self.app(environ, start_response)

    def _check_new_session(self, environ: dict[str, Any]) -> Refusal | None:
        address = str(environ.get("REMOTE_ADDR") or "")
        if self.limit and self.sessions[address] >= self.limit:
            metrics.REQUESTS_REFUSED.labels("connection_limit").inc()
            self.log_budget.log(
                log, logging.WARNING, "refused a connection from %s: %d already open",
                address, self.sessions[address],
            )  # fmt: skip
            return "429 Too Many Requests", [b"too many connections from this address"]
        return None

    def _check_post(self, environ: dict[str, Any], sid: str, address: str) -> Refusal | None:
        """Read the polling body with a bound and check every packet in it before engineio."""

        def refuse(reason: str, status: str, message: str) -> Refusal:
            return self._refuse_post(sid, address, reason, status, message)

        raw_length = str(environ.get("CONTENT_LENGTH") or "").strip()
        stream = environ["wsgi.input"]
        if raw_length:
            if not (raw_length.isascii() and raw_length.isdigit()):
                return refuse("bad_length", "400 Bad Request", "bad Content-Length")
            length = int(raw_length)
            if length > self.max_body:
                return refuse("too_large", "413 Content Too Large", "payload too large")
            body = stream.read(length) if length else b""
            if len(body) < length:
                return refuse("truncated", "400 Bad Request", "truncated body")
        else:  # chunked, or no length at all: read at most one byte past the limit
            body = stream.read(self.max_body + 1)
            if len(body) > self.max_body:
                return refuse("too_large", "413 Content Too Large", "payload too large")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return refuse("not_utf8", "400 Bad Request", "body is not UTF-8")
        packets = text.split("\x1e") if text else []
        if len(packets) > MAX_PACKETS_PER_POST:
            return refuse(
                "too_many_packets",
                "400 Bad Request",
                f"at most {MAX_PACKETS_PER_POST} packets per request",
            )
        for packet in packets:
            problem = engineio_problem(packet, "polling")
            if problem is not None:
                return refuse(problem, "400 Bad Request", "malformed packet")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return None

    def _refuse_post(
        self, sid: str, address: str, reason: str, status: str, message: str
    ) -> Refusal:
        """Refuse a polling POST and end its session at once: its next request is refused too,
        so the client knows to reconnect (never a hung request, never a silent 200)."""
        socket = self.eio.sockets.get(sid)
        if socket is not None and not socket.closed:
            socket.close(wait=False, abort=False, reason=self.eio.reason.TRANSPORT_ERROR)
        return self._malformed(address, reason, status, message)

    def _malformed(self, address: str, reason: str, status: str, message: str) -> Refusal:
        count_malformed(self.log_budget, reason, "polling", address)
        return status, [message.encode()]


def count_malformed(budget: LogBudget, reason: str, where: str, address: str = "") -> None:
    """Every refusal of wire input: counted always, logged within the budget."""
    metrics.MALFORMED_INPUT.labels(reason).inc()
    budget.log(
        log, logging.WARNING, "refused malformed input (%s, %s) from %s", reason, where,
        address or "?",
    )  # fmt: skip


def guard_websocket(eio_server: Any, max_size: int, budget: LogBudget) -> None:
    """Serve this server's WebSockets through a class that checks each frame before engineio.

    It subclasses whatever class is installed (``app.websocket``'s, or simple-websocket's), so
    the two stay independent: this one only decides which frames engineio gets to see.
    """
    drivers: dict[str, Any] = getattr(eio_server, "_async", None) or {}
    base = drivers.get("websocket")
    if not isinstance(base, type):
        log.warning("WebSocket frames are not checked: no WebSocket class to extend")
        return

    class GuardedWebSocket(base):  # type: ignore[valid-type,misc]
        """Size-bounded messages; a frame engineio cannot take closes the connection cleanly."""

        address = ""

        def __init__(self, handler: Any, server: Any, **kwargs: Any) -> None:
            super().__init__(handler, server, **kwargs)
            # simple-websocket buffers a message of any size unless told otherwise.
            self.server_args = {**getattr(self, "server_args", {}), "max_message_size": max_size}

        def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            self.address = str(environ.get("REMOTE_ADDR") or "")
            return super().__call__(environ, start_response)

        def wait(self) -> Any:
            data = super().wait()
            ws = getattr(self, "ws", None)
            if data is None:
                if ws is not None and getattr(ws, "incoming_message_len", 0) > max_size:
                    count_malformed(budget, "too_large", "websocket", self.address)
                return None
            problem = engineio_problem(data, "websocket")
            if problem is None:
                return data
            count_malformed(budget, problem, "websocket", self.address)
            code = CLOSE_UNSUPPORTED_DATA if problem == "binary_frame" else CLOSE_PROTOCOL_ERROR
            if ws is not None and ws.connected:
                # Already closing raises: the peer is gone either way.
                with contextlib.suppress(Exception):
                    ws.close(reason=code, message="malformed packet")
            return None  # engineio reads this as "the client closed": a clean disconnect

    eio_server._async = {**drivers, "websocket": GuardedWebSocket}


class PacketGuard:
    """Decodes each Socket.IO packet once, safely, and dispatches it as python-socketio would."""

    def __init__(self, sio_server: Any, budget: LogBudget) -> None:
        self.sio = sio_server
        self.budget = budget
        self._strikes: dict[str, TokenBucket] = {}
        handlers = sio_server.eio.handlers
        on_disconnect = handlers.get("disconnect")

        def disconnect(eio_sid: str, *args: Any) -> Any:
            self._strikes.pop(eio_sid, None)
            return on_disconnect(eio_sid, *args) if on_disconnect else None

        handlers["message"] = self.on_message
        handlers["disconnect"] = disconnect

    def on_message(self, eio_sid: str, data: Any) -> None:
        sio = self.sio
        if not isinstance(data, str):
            self.refuse(eio_sid, "binary_frame", None)
            return
        try:
            pkt = sio.packet_class(encoded_packet=data)
        except Exception as exc:  # ValueError, RecursionError, ...: all mean "not a packet"
            reason = "too_deep" if isinstance(exc, RecursionError) else "undecodable"
            self.refuse(eio_sid, reason, data)
            return
        kind, namespace = pkt.packet_type, pkt.namespace
        if kind == sio_packet.EVENT:
            event = pkt.data
            if not (isinstance(event, list) and event and isinstance(event[0], str)):
                self.refuse(eio_sid, "bad_event", data)
            elif event[0] in RESERVED_EVENTS:
                self.refuse(eio_sid, "reserved_event", data)
            else:
                sio._handle_event(eio_sid, namespace, pkt.id, event)
        elif kind == sio_packet.CONNECT:
            if sio.manager.sid_from_eio_sid(eio_sid, namespace or "/") is not None:
                self.refuse(eio_sid, "duplicate_connect", data)
            else:
                sio._handle_connect(eio_sid, namespace, pkt.data)
        elif kind == sio_packet.DISCONNECT:
            sio._handle_disconnect(eio_sid, namespace, sio.reason.CLIENT_DISCONNECT)
        else:  # ACK (we never ask clients for one), binary packets, CONNECT_ERROR
            self.refuse(eio_sid, "unexpected_packet", data)

    def refuse(self, eio_sid: str, reason: str, data: str | None) -> None:
        """Count, log within budget, tell the client; close a connection that keeps at it."""
        sio = self.sio
        address = str(sio.environ.get(eio_sid, {}).get("REMOTE_ADDR") or "")
        count_malformed(self.budget, reason, "socket.io", address)
        header = _HEADER.match(data) if data else None
        namespace = (header.group(2) if header else None) or "/"
        sid = sio.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is not None and sio.manager.is_connected(sid, namespace):
            answer = {"code": "malformed_packet", "message": "the packet could not be read"}
            if header is not None and header.group(1) == "2" and header.group(3):
                ack = sio.packet_class(
                    sio_packet.ACK,
                    namespace=namespace,
                    id=int(header.group(3)),
                    data=[{"ok": False, **answer}],
                )
                sio._send_packet(eio_sid, ack)
            sio.emit("error", answer, to=sid, namespace=namespace, ignore_queue=True)
        strikes = self._strikes.get(eio_sid)
        if strikes is None:
            strikes = self._strikes[eio_sid] = TokenBucket(MALFORMED_RATE, MALFORMED_BURST)
        if not strikes.allow():
            socket = sio.eio.sockets.get(eio_sid)
            if socket is not None and not socket.closed:
                count_malformed(self.budget, "closed_for_garbage", "socket.io", address)
                socket.close(wait=False, abort=False, reason=sio.eio.reason.SERVER_DISCONNECT)
