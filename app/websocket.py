"""The WebSocket transport, tuned for room broadcasts of small messages.

Two changes to how python-engineio and simple-websocket serve WebSockets, both measured by
the fan-out benchmark (``make bench``, docs/performance.md):

**No permessage-deflate.** Every browser offers it and simple-websocket accepts the offer
unconditionally. Then each connection holds its own zlib compressor (with context takeover the
window cannot be shared), created at the first frame the server sends, and every room broadcast
is compressed once per member. For frames of a few hundred bytes that deflate barely shrinks,
that cost about 150 MiB of RSS per 1,000 idle browser connections instead of about 65, and
twice the CPU per delivered message. socket.io's Node server ships with the extension off for
the same reasons. Declining is standard (RFC 7692: a server may ignore the offer) and invisible
to clients; ``CompactWebSocket`` removes the offer before the handshake reads it.

**A broadcast framed once.** python-socketio encodes a room emit once and queues the same
Engine.IO packet, whose ``encode()`` is cached, to every member; each member's writer greenlet
then hands that same string to simple-websocket, which builds a wsproto event and serializes
the WebSocket frame again for every member. Without extensions a server's frame depends on the
payload only (servers do not mask), so ``CompactWebSocket`` builds it once per message and
writes the same bytes to each socket, exactly as simple-websocket would have.

**Written by the broadcaster when the connection is idle.** python-engineio gives every
connection a queue and a writer greenlet: each delivery was a queue put, a switch to that
greenlet, a queue wait with a gevent ``Timeout`` around it and a switch back, several times the
cost of the ``send`` system call itself (the profile's top entries after the two changes
above). When nothing is queued or being written for a member, the greenlet that emits now
writes the frame to that member's socket itself, with a non-blocking ``send``: what the writer
would have done, in the same order, minus the hops. Anything else takes the queue as before: a
member with packets waiting or a write in progress (order), a socket whose buffer is full (the
broadcaster never blocks on a slow member; the writer waits for it), binary or closing
connections, and servers not on gevent. A frame the kernel took only part of has its tail queued
for the writer, ahead of anything sent later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gevent.lock import Semaphore
from wsproto.connection import ConnectionState

log = logging.getLogger(__name__)

_OFFER = "HTTP_SEC_WEBSOCKET_EXTENSIONS"
#: Frames kept for reuse; a broadcast's writers run back to back, so a few suffice.
_FRAME_CACHE_SIZE = 32
_frames: dict[int, tuple[str, bytes]] = {}


def text_frame(message: str) -> bytes:
    """One final, unmasked text frame (RFC 6455 5.2), cached by the identity of ``message``.

    Keyed by ``id`` with the string kept in the entry, so an id is never reused while cached.
    """
    entry = _frames.get(id(message))
    if entry is not None and entry[0] is message:
        return entry[1]
    payload = message.encode()
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    frame = header + payload
    if len(_frames) >= _FRAME_CACHE_SIZE:
        _frames.clear()
    _frames[id(message)] = (message, frame)
    return frame


class _GatedSocket:
    """A connection's socket whose writes go through one lock, a pending frame tail first.

    Everything but the writes is the socket's own (``recv``, ``fileno`` for the reader's
    selector, ``close``...). simple-websocket calls ``send`` and expects it to write everything.
    """

    def __init__(self, sock: Any) -> None:
        self.raw = sock
        self.gate = Semaphore()
        self.tail = b""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def send(self, data: bytes, flags: int = 0) -> int:
        self.sendall(data)
        return len(data)

    def sendall(self, data: bytes, flags: int = 0) -> None:
        with self.gate:
            self._flush()
            self.raw.sendall(data)

    def flush(self) -> None:
        """Write a pending tail (the writer, woken by the marker ``write_now`` queued)."""
        with self.gate:
            self._flush()

    def try_send(self, frame: bytes) -> bool:
        """Write ``frame`` without waiting for anything; keep what the kernel did not take."""
        if self.tail or not self.gate.acquire(blocking=False):
            return False
        try:
            sent: int = self.raw.send(frame, 0, 0.0)  # gevent: timeout 0, never waits
        except OSError:  # full buffer (EAGAIN) or broken: the writer deals with it
            return False
        finally:
            self.gate.release()
        if sent < len(frame):
            self.tail = frame[sent:]
        return True

    def _flush(self) -> None:
        if self.tail:
            tail, self.tail = self.tail, b""
            self.raw.sendall(tail)


class _Flush(str):
    """What the writer gets from ``_FlushMarker.encode()``: write the socket's pending tail."""


class _FlushMarker:
    """Queued like an engineio packet after a partial direct write, to wake the writer."""

    binary = False
    _message = _Flush()

    def encode(self, b64: bool = False) -> _Flush:
        return self._message


#: Open WebSockets by engineio sid, for ``write_now``; sids are unique across servers.
_by_sid: dict[str, Any] = {}


def install_compact_websocket(
    sio_server: Any, on_direct_write: Callable[[], object] | None = None
) -> bool:
    """Serve this Socket.IO server's WebSockets with ``CompactWebSocket``; False if not possible.

    engineio picks the class from its async driver (``_async["websocket"]``); the override is
    made on this server's own copy, so other servers in the process are untouched. It applies
    only on top of simple-websocket (not gevent-websocket, which engineio would prefer if it
    were installed, and which negotiates no extension anyway), and is skipped with a warning
    otherwise. The server's ``_send_eio_packet``, through which python-socketio sends every
    packet of an emit, tries ``write_now`` first; ``on_direct_write`` is called for each
    packet written that way.
    """
    import gevent.socket
    from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

    eio_server = sio_server.eio
    drivers: dict[str, Any] = getattr(eio_server, "_async", None) or {}
    base = drivers.get("websocket")
    if not (isinstance(base, type) and issubclass(base, SimpleWebSocketWSGI)):
        log.warning("WebSocket transport left as is: %r is not simple-websocket", base)
        return False
    if not callable(getattr(sio_server, "_send_eio_packet", None)):
        # A python-socketio release without this internal hook: serve the stock path.
        log.warning("WebSocket transport left as is: python-socketio has no _send_eio_packet")
        return False

    class CompactWebSocket(base):  # type: ignore[valid-type,misc]
        """simple-websocket without extensions, whole text messages framed once."""

        #: True while the writer greenlet is inside a ``send`` (it may be waiting in it).
        writing = False
        eio_socket: Any = None
        ws: Any = None

        def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            environ.pop(_OFFER, None)  # so the frames below are never compressed
            sock = environ.get("gunicorn.socket")
            if isinstance(sock, gevent.socket.socket):  # the only server write_now serves
                environ["gunicorn.socket"] = _GatedSocket(sock)
            # engineio passes its Socket's bound ``_websocket_handler`` as the handler.
            self.eio_socket = getattr(self.app, "__self__", None)
            sid = getattr(self.eio_socket, "sid", None)
            if sid is not None:
                _by_sid[sid] = self
            try:
                return super().__call__(environ, start_response)
            finally:
                if sid is not None and _by_sid.get(sid) is self:
                    del _by_sid[sid]

        def send(self, message: Any) -> Any:
            """The writer greenlet's path (engineio calls it with ``pkt.encode()``)."""
            ws = self.ws
            self.writing = True
            try:
                if type(message) is _Flush:
                    ws.sock.flush()
                elif (
                    type(message) is not str
                    or not ws.connected
                    or ws.ws.state is not ConnectionState.OPEN
                ):
                    return super().send(message)  # the general path: binary, closing, closed
                else:
                    ws.sock.sendall(text_frame(message))
            finally:
                self.writing = False
            return None

        def write_now(self, pkt: Any) -> bool:
            """Write ``pkt`` from the calling greenlet if nothing is ahead of it; True if done."""
            ws, eio = self.ws, self.eio_socket
            if (
                self.writing
                or ws is None
                or eio is None
                or eio.queue.qsize()
                or not eio.upgraded
                or eio.upgrading
                or eio.closing
                or eio.closed
                or pkt.binary
                or not ws.connected
                or ws.ws.state is not ConnectionState.OPEN
                or type(ws.sock) is not _GatedSocket
            ):
                return False
            message = pkt.encode()
            if type(message) is not str:
                return False
            if not ws.sock.try_send(text_frame(message)):
                return False
            if ws.sock.tail:
                eio.queue.put(_FlushMarker())
            return True

    eio_server._async = {**drivers, "websocket": CompactWebSocket}
    queue_packet = sio_server._send_eio_packet

    def send_eio_packet(eio_sid: str, eio_pkt: Any) -> None:
        ws = _by_sid.get(eio_sid)
        if ws is None or not ws.write_now(eio_pkt):
            queue_packet(eio_sid, eio_pkt)
        elif on_direct_write is not None:
            on_direct_write()

    sio_server._send_eio_packet = send_eio_packet
    return True
