"""A lean asyncio Socket.IO load generator: thousands of clients in one process and one core.

python-socketio's own client starts threads per connection, too heavy for thousands of them on a
two-core machine. This client speaks just enough of Engine.IO v4 / Socket.IO v5 over a raw
WebSocket (RFC 6455 on an ``asyncio.Protocol``, no polling, no compression): the ``0{...}`` open
packet, ``40`` to join the default namespace and its ``40{"sid"}`` answer, a ``3`` for each server
ping ``2``, and ``42[event, data]`` events both ways. Every other packet is ignored.

Why not the ``websockets`` package: with it (a generator-based frame parser, an asyncio queue
and a task switch per message) the load generator spent 23 us of CPU per delivery, three
quarters of the chat server's 31 us, so it would have been the next bottleneck. Here frames are
parsed in ``data_received`` and events handled synchronously, with no task per client: about
13 us per delivery, JSON decoding included.

Reusable by any benchmark: ``connect_clients`` opens many clients with bounded concurrency and
reports the failures by cause, ``SocketIOClient.emit`` sends, ``on_event`` receives, and
``cpu_seconds`` / ``percentile`` help build the report.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import resource
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from bench.fanout_client import client_frame

#: ``(client, event name, event data)``; called on the event loop for every ``42`` packet.
EventHandler = Callable[["SocketIOClient", str, Any], None]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


class HandshakeError(RuntimeError):
    """The server did not open a WebSocket with a Socket.IO session."""


def socketio_url(base_url: str, path: str = "/socket.io/") -> str:
    """``http://host:port`` to the WebSocket-only Engine.IO v4 endpoint."""
    _, _, rest = base_url.partition("://")
    return f"ws://{rest.rstrip('/')}{path}?EIO=4&transport=websocket"


class _WebSocket(asyncio.Protocol):
    """The client side of one WebSocket: upgrade, frame parsing, ping/pong and close."""

    def __init__(self, host: str, target: str, on_text: Callable[[str], None]) -> None:
        self.host, self.target, self.on_text = host, target, on_text
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.opened: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.fragments: list[bytes] = []
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(
            f"GET {self.target} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded and not self._upgrade():
            return
        buf, pos, end = self.buffer, 0, len(self.buffer)
        while end - pos >= 2:
            first, length = buf[pos], buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if end - start < 2:
                    break
                length, start = int.from_bytes(buf[start : start + 2], "big"), start + 2
            elif length == 127:
                if end - start < 8:
                    break
                length, start = int.from_bytes(buf[start : start + 8], "big"), start + 8
            if end - start < length:
                break
            self._frame(first, bytes(buf[start : start + length]))
            pos = start + length
        del buf[:pos]

    def _upgrade(self) -> bool:
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        status, *lines = self.buffer[:head_end].decode("latin-1").split("\r\n")
        del self.buffer[: head_end + 4]
        headers = dict(line.split(":", 1) for line in lines if ":" in line)
        headers = {name.strip(): value.strip() for name, value in headers.items()}
        accept = {name.lower(): value for name, value in headers.items()}.get(
            "sec-websocket-accept"
        )
        expected = base64.b64encode(hashlib.sha1(self.key.encode() + _GUID).digest()).decode()
        if not status.startswith("HTTP/1.1 101") or accept != expected:
            self.opened.set_exception(HandshakeError(f"upgrade refused: {status!r}"))
            self.abort()
            return False
        self.upgraded = True
        self.opened.set_result(headers)
        return True

    def _frame(self, first: int, payload: bytes) -> None:
        opcode = first & 0x0F
        if opcode == _TEXT or opcode == 0:  # a text frame or its continuation
            self.fragments.append(payload)
            if first & 0x80:
                text = b"".join(self.fragments).decode()
                self.fragments.clear()
                self.on_text(text)
        elif opcode == _PING:
            self.write(_PONG, payload)
        elif opcode == _CLOSE:
            self.write(_CLOSE, payload[:2])
            self.abort()

    def write(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("the WebSocket is closed")
        self.transport.write(client_frame(opcode, payload))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"connection lost: {exc}" if exc else "connection closed"
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(reason))
        if not self.lost.done():
            self.lost.set_result(reason)


class SocketIOClient:
    """One Socket.IO connection on the default namespace, over WebSocket only."""

    def __init__(self, url: str, on_event: EventHandler | None = None) -> None:
        self.url = url
        self.on_event = on_event
        self.sid: str | None = None
        self.closed = asyncio.Event()
        self.close_reason: str | None = None
        self.upgrade_headers: dict[str, str] = {}
        self._ws: _WebSocket | None = None
        self._session: asyncio.Future[str] | None = None

    async def connect(self, timeout: float = 30.0) -> None:
        """Open the WebSocket and the Socket.IO session; raise on any failure."""
        parts = urlsplit(self.url)
        if parts.scheme != "ws" or parts.hostname is None or parts.port is None:
            raise ValueError(f"expected ws://host:port/..., got {self.url}")
        loop = asyncio.get_running_loop()
        self._session = loop.create_future()
        async with asyncio.timeout(timeout):
            _, ws = await loop.create_connection(
                lambda: _WebSocket(parts.netloc, f"{parts.path}?{parts.query}", self._packet),
                parts.hostname,
                parts.port,
            )
            self._ws = ws
            ws.lost.add_done_callback(self._lost)
            self.upgrade_headers = await ws.opened
            self.sid = await self._session

    def _packet(self, packet: str) -> None:
        """One Engine.IO packet, handled synchronously on the event loop."""
        assert self._ws is not None and self._session is not None
        if packet == "2":
            self._ws.write(_TEXT, b"3")
        elif packet.startswith("42"):
            if self.on_event is not None:
                name, *args = json.loads(packet[2:])
                self.on_event(self, name, args[0] if args else None)
        elif packet.startswith("0") and not self._session.done():
            self._ws.write(_TEXT, b"40")
        elif packet.startswith("40") and not self._session.done():
            self._session.set_result(json.loads(packet[2:]).get("sid"))
        elif packet.startswith("44") and not self._session.done():
            self._session.set_exception(HandshakeError(f"namespace refused: {packet[2:]:.80}"))
        elif packet.startswith("41") or packet == "1":
            self.close_reason = f"server closed the session ({packet})"
            self._ws.abort()

    def _lost(self, lost: asyncio.Future[str]) -> None:
        self.close_reason = self.close_reason or lost.result()
        if self._session is not None and not self._session.done():
            self._session.set_exception(ConnectionError(self.close_reason))
        self.closed.set()

    async def emit(self, event: str, data: Any) -> None:
        """Send ``42[event, data]``; raises ``ConnectionError`` if the socket is gone."""
        if self._ws is None:
            raise ConnectionError("not connected")
        self._ws.write(_TEXT, ("42" + json.dumps([event, data], separators=(",", ":"))).encode())

    async def close(self) -> None:
        """Close without waiting for the server: a benchmark tears down thousands at once."""
        if self._ws is not None:
            self._ws.abort()
        self.closed.set()


async def connect_clients(
    url: str,
    count: int,
    *,
    concurrency: int = 100,
    on_event: EventHandler | None = None,
    timeout: float = 30.0,
) -> tuple[list[SocketIOClient], Counter[str]]:
    """Open ``count`` clients, ``concurrency`` handshakes at a time; failures counted by cause."""
    clients: list[SocketIOClient] = []
    failures: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        client = SocketIOClient(url, on_event)
        async with gate:
            try:
                await client.connect(timeout)
            except Exception as exc:
                failures[failure_cause(exc)] += 1
                await client.close()
                return
        clients.append(client)

    await asyncio.gather(*(one() for _ in range(count)))
    return clients, failures


def failure_cause(exc: BaseException) -> str:
    """A short, countable description of why a connection failed."""
    if isinstance(exc, TimeoutError):
        return "TimeoutError"
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def close_all(clients: Iterable[SocketIOClient]) -> None:
    for client in clients:
        with contextlib.suppress(Exception):
            await client.close()


def cpu_seconds() -> float:
    """User + system CPU time of this process (the load generator) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted list; ``None`` when it is empty."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]
