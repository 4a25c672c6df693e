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

**Written without the writer greenlet, coalesced per member.** python-engineio gives every
connection a queue and a writer greenlet: each delivery was a queue put, a switch to that
greenlet, a queue wait with a gevent ``Timeout`` around it and a switch back, several times the
cost of the ``send`` system call itself. Here every packet for a member (room broadcasts,
replies, acks, pings) goes through the member's pending buffer instead: broadcasts are
appended and written by one server-wide flush, so frames for one member that arrive within a
tick (``TICK_SECONDS``, 5 ms) leave in one ``send`` (one write carrying two frames costs what
one frame costs); the flush runs on the hub's next turn when the previous one is more than a
tick old, so a quiet server adds no delay. A message sent through engineio's own ``send`` (the
ack of the sender's event) flushes the member at once, behind what was pending, so the sender's
ack is immediate and nothing overtakes anything. Pings, noops and closes still take engineio's
queue (behind what was pending): its writer closes a connection it has had nothing to write to
for ``ping_interval + ping_timeout``.

**A fast-path flag per connection.** Whether a member can be written this way (upgraded, open,
nothing queued for or being written by engineio's writer, a gevent socket) was 14 checks per
member per message; now it is one attribute, ``fast``, kept current where those states change:
set by one full check when the connection is next written after a change, cleared when
anything is queued for the writer (a packet that cannot take the fast path, the tail of a frame
the kernel took only in part, a full socket), while the writer is inside a ``send``, and when
the connection closes. Whatever is pending moves to the queue ahead of anything queued after
it, so each member still gets its packets in order; the broadcaster never blocks on a slow
member (the writer waits for it). Every write to the socket, simple-websocket's own (a Pong, a
Close) included, goes through one gate (``_GatedSocket``) that writes the tail of a frame the
kernel took only in part before anything else.

**One server-wide pinger.** engineio spawns a greenlet per connection for every ping cycle,
sleeping ``ping_interval`` (25 s) before it sends the ping: one more greenlet, stack and timer
per idle connection. ``Pinger`` keeps the due pings in one queue (every cycle has the same
length, so it is in due order) served by one greenlet, which exits when nothing is due.

**A writer greenlet only while there is something to write.** engineio starts a writer
greenlet per WebSocket that waits on the connection's queue for its whole life, though with
the pending buffer above it has work only when a packet could not take the fast path (pings
among them). Here the connection is served by ``CompactWebSocket.serve``, engineio's
``Socket._websocket_handler`` with one difference: the writer is started when something is
queued (the server's queue class, ``NotifyingQueue``, tells the connection) and exits when the
queue is empty. engineio's writer also closed a connection it had nothing to write to for
``ping_interval + ping_timeout``; engineio's service task closes connections whose ping went
unanswered, which is what that covered.

**Internals, pinned.** This reaches into python-engineio, python-socketio and simple-websocket
internals (``Socket.send``, ``Socket.queue``, ``Server._send_eio_packet``, the websocket
driver class, ``Base.sock``/``connected``/``ws``). It is installed only on the exact releases
in ``TESTED_VERSIONS``; on any other release, or a non-gevent server, the stock engineio path
serves (logged once at start), and the tests run both.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from importlib import metadata
from typing import Any

from engineio.packet import MESSAGE, PING, Packet
from gevent.lock import Semaphore
from wsproto.connection import ConnectionState

log = logging.getLogger(__name__)

#: The releases whose internals this module was written and tested against (see the doc).
TESTED_VERSIONS = {
    "python-engineio": "4.15.1",
    "python-socketio": "5.18.1",
    "simple-websocket": "1.1.0",
}
#: Longest a broadcast frame waits in a member's pending buffer (only under load: see the doc).
TICK_SECONDS = 0.005
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


class _RawFrame(str):
    """Bytes the writer must send verbatim: frames that were pending when the fast path ended."""

    raw: bytes


class _FrameTail:
    """Queued like an engineio packet; the writer sends ``encode()`` through ``send``."""

    binary = False

    def __init__(self, raw: bytes) -> None:
        self._frame = _RawFrame()
        self._frame.raw = raw

    def encode(self, b64: bool = False) -> _RawFrame:
        return self._frame


class _GatedSocket:
    """A connection's socket whose writes go through one lock, a pending frame tail first.

    simple-websocket's reader writes too (a Pong to a client's Ping, a Close): through this
    gate such a control frame follows a data frame the kernel took only in part, never lands
    inside it. Everything but the writes is the socket's own (``recv``, ``fileno`` for the
    reader's selector, ``close``...). simple-websocket calls ``send`` and expects it to write
    everything.
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
        """Write a pending tail (the writer, woken by the marker a partial write queued)."""
        with self.gate:
            self._flush()

    def try_send(self, data: bytes) -> bool:
        """Write ``data`` without waiting for anything; keep what the kernel did not take."""
        if self.tail or not self.gate.acquire(blocking=False):
            return False
        try:
            sent: int = self.raw.send(data, 0, 0.0)  # gevent: timeout 0, never waits
        except OSError:  # full buffer (EAGAIN) or broken: the writer deals with it
            return False
        finally:
            self.gate.release()
        if sent < len(data):
            self.tail = data[sent:]
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


#: Open WebSockets by engineio sid, for ``send_eio_packet``; sids are unique across servers.
_by_sid: dict[str, Any] = {}


def untested_versions() -> list[str]:
    """The pinned distributions whose installed release differs from ``TESTED_VERSIONS``."""
    differing = []
    for name, version in TESTED_VERSIONS.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            differing.append(f"{name} {installed} (tested: {version})")
    return differing


class Coalescer:
    """The server-wide flush of members' pending frames: at most one per ``tick`` seconds.

    A member's first pending frame registers it; the flush is scheduled on the hub's next turn
    if the last one is more than a tick old, else a tick after the last one. It runs in the
    hub, and never blocks: every ``send`` has a zero timeout.
    """

    def __init__(self, tick: float = TICK_SECONDS) -> None:
        import gevent

        self.tick = tick
        self.loop = gevent.get_hub().loop
        self.dirty: list[Any] = []
        self.scheduled = False
        self.last = 0.0
        self.timer: Any = None

    def add(self, ws: Any) -> None:
        self.dirty.append(ws)
        if self.scheduled:
            return
        self.scheduled = True
        delay = self.last + self.tick - time.monotonic()
        if delay <= 0:
            self.loop.run_callback(self.flush)
        else:
            self.timer = self.loop.timer(delay)
            self.timer.start(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        if self.timer is not None:
            self.timer.close()
            self.timer = None
        self.last = time.monotonic()
        dirty, self.dirty = self.dirty, []
        for ws in dirty:
            try:
                ws.flush()
            except Exception:  # one broken member must not cost the others their frames
                log.exception("flushing a websocket failed")


class Pinger:
    """Every ping of one engineio server, sent by one greenlet when due (see the module doc)."""

    def __init__(self, eio_server: Any) -> None:
        self.server = eio_server
        self.due: deque[tuple[float, Any]] = deque()
        self.running = False

    def schedule(self, socket: Any) -> None:
        """``Socket.schedule_ping``: only after the previous ping was answered, as engineio."""
        if not socket.last_ping:
            return
        socket.last_ping = None
        self.due.append((time.monotonic() + self.server.ping_interval, socket))
        if not self.running:
            self.running = True
            self.server.start_background_task(self._run)

    def _run(self) -> None:
        try:
            while self.due:
                when, socket = self.due[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self.server.sleep(delay)
                    continue
                self.due.popleft()
                if socket.closing or socket.closed:
                    continue
                socket.last_ping = time.time()
                try:
                    socket.send(Packet(PING))
                except Exception:
                    log.exception("sending a ping failed")
        finally:
            self.running = False


def _install_pinger(eio_server: Any) -> None:
    """Serve this server's pings from one ``Pinger``; other servers keep engineio's own.

    engineio makes its sockets from the module's ``Socket`` class, so the hook is on that
    class, and it hands over only for servers that carry a pinger.
    """
    from engineio.socket import Socket

    eio_server.livechat_pinger = Pinger(eio_server)
    stock = Socket.schedule_ping
    if getattr(stock, "livechat_hook", False):
        return

    def schedule_ping(self: Any) -> None:
        pinger = getattr(self.server, "livechat_pinger", None)
        if pinger is None:
            stock(self)
        else:
            pinger.schedule(self)

    schedule_ping.livechat_hook = True  # type: ignore[attr-defined]
    Socket.schedule_ping = schedule_ping


def _notifying_queue(base: type) -> type:
    """engineio's queue class, telling its connection when something is put (see the doc)."""

    class NotifyingQueue(base):
        on_put: Callable[[], None] | None = None

        def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
            super().put(item, block, timeout)
            on_put = self.on_put
            if on_put is not None:
                on_put()

    return NotifyingQueue


def install_compact_websocket(
    sio_server: Any, on_direct_write: Callable[[int], object] | None = None
) -> bool:
    """Serve this Socket.IO server's WebSockets with ``CompactWebSocket``; False if not possible.

    ``on_direct_write(n)`` is called for each write of ``n`` packets made by the fast path
    (the flush or an ack) rather than by engineio's writer.

    engineio picks the class from its async driver (``_async["websocket"]``); the override is
    made on this server's own copy, so other servers in the process are untouched. It applies
    only on top of simple-websocket (not gevent-websocket, which engineio would prefer if it
    were installed, and which negotiates no extension anyway), only under gevent, and only on
    the releases in ``TESTED_VERSIONS``; otherwise it is skipped with a warning and the stock
    path serves.
    """
    untested = untested_versions()
    if untested:
        log.warning("WebSocket fast path off, untested releases: %s", ", ".join(untested))
        return False
    import gevent.queue as gevent_queue
    import gevent.socket
    from engineio import exceptions as eio_exceptions
    from engineio import packet as eio_packet
    from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

    eio_server = sio_server.eio
    drivers: dict[str, Any] = getattr(eio_server, "_async", None) or {}
    base = drivers.get("websocket")
    if not (isinstance(base, type) and issubclass(base, SimpleWebSocketWSGI)):
        log.warning("WebSocket transport left as is: %r is not simple-websocket", base)
        return False
    if eio_server.async_mode != "gevent":
        log.warning("WebSocket transport left as is: not gevent")
        return False
    if not callable(getattr(sio_server, "_send_eio_packet", None)):
        # A python-socketio release without this internal hook: serve the stock path.
        log.warning("WebSocket transport left as is: python-socketio has no _send_eio_packet")
        return False
    open_state = ConnectionState.OPEN
    gevent_socket = gevent.socket.socket
    counted = on_direct_write if on_direct_write is not None else (lambda n: None)

    class CompactWebSocket(base):  # type: ignore[valid-type,misc]
        """simple-websocket without extensions, whole text frames built once, written coalesced."""

        #: True while the writer greenlet is inside a ``send`` (it may be waiting in it).
        writing = False
        #: True when packets may go through ``pending`` (see the module doc); one check.
        fast = False
        eio_socket: Any = None
        ws: Any = None
        pending: list[bytes]
        #: engineio's own ``Socket.send`` (into its queue), replaced on the socket by ours.
        queue_send: Callable[[Any], Any]
        app: Any
        #: The greenlet writing what is queued, while there is something (see the doc).
        writer: Any = None
        #: The server-wide flush, made on first use in the serving process (on its hub).
        coalescer: Coalescer | None = None

        def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            environ.pop(_OFFER, None)  # so the frames below are never compressed
            sock = environ.get("gunicorn.socket")
            if isinstance(sock, gevent_socket):  # the only server the fast path serves
                environ["gunicorn.socket"] = _GatedSocket(sock)
            # engineio passes its Socket's bound ``_websocket_handler`` as the handler.
            eio: Any = getattr(self.app, "__self__", None)
            self.eio_socket = eio
            self.pending = []
            sid = getattr(eio, "sid", None)
            if sid is not None:
                _by_sid[sid] = self
                queue_send = eio.send
                # Every packet engineio itself sends (acks, pings, close) comes here first.
                self.queue_send = queue_send
                eio.send = lambda pkt: self.send_packet(pkt, flush=True)
            if eio is not None and getattr(eio.queue, "on_put", False) is None:
                self.app = self.serve  # engineio's handler, with a writer only while needed
            try:
                return super().__call__(environ, start_response)
            finally:
                self.fast = False
                if sid is not None:
                    if _by_sid.get(sid) is self:
                        del _by_sid[sid]
                    self.to_queue()

        def serve(self, ws: Any) -> list[Any]:
            """engineio's ``Socket._websocket_handler`` (4.15.1), the writer started on demand."""
            eio = self.eio_socket
            server = eio.server

            def websocket_wait() -> Any:
                data = ws.wait()
                if data and len(data) > server.max_http_buffer_size:
                    raise ValueError("packet is too large")
                return data

            if eio.connected:  # an upgrade from polling
                eio.upgrading = True  # hold packet sends during the upgrade
                pkt = eio_packet.Packet(encoded_packet=websocket_wait())
                if pkt.packet_type != eio_packet.PING or pkt.data != "probe":
                    eio.upgrading = False
                    return []
                ws.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
                eio.queue.put(eio_packet.Packet(eio_packet.NOOP))  # end poll
                pkt = eio_packet.Packet(encoded_packet=websocket_wait())
                if pkt.packet_type != eio_packet.UPGRADE:
                    eio.upgraded = False
                    eio.upgrading = False
                    return []
                eio.upgraded = True
                eio.upgrading = False
            else:
                eio.connected = True
                eio.upgraded = True
            eio.queue.on_put = self.wake_writer
            self.wake_writer()  # what was queued before (the open packet, the upgrade's)
            while True:
                try:
                    p = websocket_wait()
                except Exception:
                    break
                if p is None:  # closed by the client
                    break
                try:
                    eio.receive(eio_packet.Packet(encoded_packet=p))
                except eio_exceptions.SocketIsClosedError:
                    break
                except eio_exceptions.UnknownPacketError:
                    pass
                except Exception:
                    server.logger.exception("Unknown receive error")
                    break
            eio.queue.put(None)  # the writer, started if need be, closes after what is queued
            writer = self.writer
            if writer is not None:
                writer.join()
            eio.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
            return []

        def wake_writer(self) -> None:
            if self.writer is None and self.eio_socket.queue.qsize():
                self.fast = False
                self.writer = self.eio_socket.server.start_background_task(self.write_queued)

        def write_queued(self) -> None:
            """engineio's writer loop, until the queue is empty (or the connection ends)."""
            eio = self.eio_socket
            queue = eio.queue
            try:
                while True:
                    try:
                        pkt = queue.get(block=False)
                    except gevent_queue.Empty:
                        return
                    queue.task_done()
                    if pkt is None:
                        break
                    try:
                        self.send(pkt.encode())
                    except Exception:
                        break
                self.close()
            finally:
                self.writer = None

        def send(self, message: Any) -> Any:
            """The writer greenlet's path (engineio calls it with ``pkt.encode()``)."""
            ws = self.ws
            self.writing = True
            self.fast = False
            try:
                if type(message) is _RawFrame:
                    ws.sock.sendall(message.raw)
                elif type(message) is _Flush:
                    ws.sock.flush()
                elif type(message) is not str or not ws.connected or ws.ws.state is not open_state:
                    return super().send(message)  # the general path: binary, closing, closed
                else:
                    ws.sock.sendall(text_frame(message))
            finally:
                self.writing = False
            return None

        def check_fast(self) -> bool:
            """The full check, run only when ``fast`` is off; sets it when it passes."""
            ws, eio = self.ws, self.eio_socket
            self.fast = not (
                self.writing
                or ws is None
                or eio is None
                or eio.queue.qsize()
                or not eio.upgraded
                or eio.upgrading
                or eio.closing
                or eio.closed
                or not ws.connected
                or ws.ws.state is not open_state
                or type(ws.sock) is not _GatedSocket
                or ws.sock.tail
            )
            return self.fast

        def send_packet(self, pkt: Any, flush: bool) -> None:
            """Through ``pending`` when fast, else behind it into engineio's queue.

            ``flush``: write now (acks); else on the coalescer's next flush. Only messages take
            the fast path: engineio's writer must still see a packet (a ping) at least every
            ``ping_interval + ping_timeout`` seconds, or it closes the connection as idle.
            """
            if (self.fast or self.check_fast()) and pkt.packet_type == MESSAGE and not pkt.binary:
                message = pkt.encode()
                if type(message) is str:
                    pending = self.pending
                    if not pending and not flush:
                        coalescer = self.coalescer
                        if coalescer is None:
                            coalescer = type(self).coalescer = Coalescer()
                        coalescer.add(self)
                    pending.append(text_frame(message))
                    if flush:
                        self.flush()
                    return
            self.to_queue()
            self.queue_send(pkt)

        def flush(self) -> None:
            """Write what is pending in one non-blocking ``send``; queue what the kernel left."""
            pending = self.pending
            if not pending:
                return
            if not self.fast:
                self.to_queue()
                return
            count = len(pending)
            data = pending[0] if count == 1 else b"".join(pending)
            pending.clear()
            sock = self.ws.sock
            if not sock.try_send(data):  # busy, full or broken: the writer deals with it
                self.fast = False
                self.eio_socket.queue.put(_FrameTail(data))
                return
            counted(count)
            if sock.tail:  # the kernel took part: the writer sends the rest, first
                self.fast = False
                self.eio_socket.queue.put(_FlushMarker())

        def to_queue(self) -> None:
            """Move what is pending into engineio's queue, ahead of anything queued later."""
            self.fast = False
            if self.pending:
                data = b"".join(self.pending)
                self.pending.clear()
                self.eio_socket.queue.put(_FrameTail(data))

    eio_server._async = {
        **drivers,
        "websocket": CompactWebSocket,
        "queue": _notifying_queue(drivers["queue"]),
    }
    _install_pinger(eio_server)
    queue_packet = sio_server._send_eio_packet

    def send_eio_packet(eio_sid: str, eio_pkt: Any) -> None:
        """python-socketio's way out for every emit: room broadcasts and single replies."""
        ws = _by_sid.get(eio_sid)
        if ws is None:
            queue_packet(eio_sid, eio_pkt)
        else:
            ws.send_packet(eio_pkt, flush=False)

    sio_server._send_eio_packet = send_eio_packet
    return True
