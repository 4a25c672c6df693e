"""A lean Socket.IO client for the fan-out benchmark: thousands per process, ~1 us per delivery.

The fan-out benchmark receives ~100k events per second on one core. A stock socket.io-client
spends about as much CPU receiving an event as the server spends sending it, and so does a
client built on a full WebSocket library (``bench/loadgen.py`` on ``websockets``: a task, a
future and a JSON parse per frame), so on a two-core machine the client would saturate first
and the benchmark would measure itself. This one is an ``asyncio.Protocol`` that speaks the
same wire protocol with no per-frame allocation beyond the payload slice:

- WebSocket (RFC 6455) by hand: the HTTP upgrade, unmasked server frames parsed straight from
  the receive buffer (several per ``data_received``), masked client frames, pings and closes.
- Like a browser, it offers ``permessage-deflate; client_max_window_bits`` (RFC 7692) in the
  upgrade: what a server does with that offer is part of its cost per connection and per
  delivery. When a server accepts, compressed frames (RSV1) are inflated, with one
  decompressor per connection (context takeover) as the RFC requires; the client's own
  frames go uncompressed, which the RFC allows.
- Engine.IO v4 / Socket.IO v5 over it: ``0{open}``, ``40`` and its ``40{sid}`` answer, ``3``
  for every ``2`` ping, ``42[event, data]`` both ways.

Each ``42`` packet goes to ``on_packet(client, payload_bytes)`` undecoded: the benchmark finds
its marker in the bytes and JSON-decodes only a sample to check the events are well formed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import zlib
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

#: ``(client, payload)``: called with the raw bytes of every ``42`` packet (``42[...]``).
PacketHandler = Callable[["LeanClient", bytes], None]

#: What Chromium and Firefox send in every WebSocket upgrade.
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"

_OP_CONT, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0, 1, 2, 8, 9, 10


class ProtocolError(RuntimeError):
    """The server said something this client does not expect (bad upgrade, masked frame...)."""


def _mask(payload: bytes, key: bytes) -> bytes:
    """XOR with the repeated 4-byte key, as one big-integer operation (fast for short frames)."""
    n = len(payload)
    if n == 0:
        return payload
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (RFC 6455 5.2: clients must mask)."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + key + _mask(payload, key)


def encode_frame(text: str, opcode: int = _OP_TEXT) -> bytes:
    """One masked client text frame (FIN set)."""
    return client_frame(opcode, text.encode())


class LeanClient(asyncio.Protocol):
    """One Socket.IO connection on the default namespace over a hand-rolled WebSocket."""

    def __init__(self, host: str, port: int, on_packet: PacketHandler | None = None) -> None:
        self.host, self.port = host, port
        self.on_packet = on_packet
        self.transport: asyncio.Transport | None = None
        self.sid: str | None = None
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = asyncio.Event()
        self.close_reason: str | None = None
        self.tag: Any = None  # free for the benchmark (its room, its replica)
        self._upgraded = False
        self._inflater: Any = None  # a zlib decompressobj once permessage-deflate is agreed
        self.deflate = False
        self._buffer = b""
        self._fragments: list[bytes] = []
        self._compressed = False
        self._window_bits = 15
        self._reset_inflater = False

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        # The common case under load: exactly one whole short text frame in this read.
        if not self._buffer and self._upgraded and data[0] == 0x81 and data[1] == len(data) - 2:
            self._packet(data[2:])
            return
        buffer = self._buffer + data if self._buffer else data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = buffer
                return
            status = buffer[: buffer.find(b"\r\n")]
            if b" 101 " not in status:
                self._fail(ProtocolError(f"upgrade refused: {status.decode(errors='replace')}"))
                return
            self._upgraded = True
            self._agree_extensions(buffer[:end])
            buffer = buffer[end + 4 :]
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            b0, b1 = buffer[pos], buffer[pos + 1]
            length = b1 & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                start = pos + 10
            if b1 & 0x80:
                self._fail(ProtocolError("the server masked a frame"))
                return
            end = start + length
            if end > size:
                break
            self._frame(b0, buffer[start:end])
            pos = end
        self._buffer = buffer[pos:] if pos < size else b""

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_reason is None:
            self.close_reason = f"connection lost ({exc})" if exc else "connection closed"
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(self.close_reason))
        self.closed.set()

    # -- frames and packets --------------------------------------------------------------

    def _agree_extensions(self, response: bytes) -> None:
        for line in response.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() != b"sec-websocket-extensions":
                continue
            params = [p.strip() for p in value.decode().split(";")]
            if params[0] == "permessage-deflate":
                bits = 15
                for param in params[1:]:
                    key, _, number = param.partition("=")
                    if key.strip() == "server_max_window_bits" and number:
                        bits = int(number.strip().strip('"'))
                self._inflater = zlib.decompressobj(-bits)
                self._window_bits = bits
                self._reset_inflater = "server_no_context_takeover" in params
                self.deflate = True

    def _frame(self, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        if not b0 & 0x80:  # a fragment: keep until the final one
            if opcode != _OP_CONT:
                self._compressed = bool(b0 & 0x40)
            self._fragments.append(payload)
            return
        if opcode == _OP_CONT:
            payload = b"".join([*self._fragments, payload])
            self._fragments.clear()
            if self._compressed:
                payload = self._inflate(payload)
        elif b0 & 0x40:
            payload = self._inflate(payload)
        elif opcode == _OP_PING:
            self._write(payload.decode("latin-1"), _OP_PONG)
            return
        elif opcode == _OP_CLOSE:
            self.close_reason = f"server closed the WebSocket ({payload[:2].hex()})"
            self._abort()
            return
        elif opcode == _OP_PONG:
            return
        self._packet(payload)

    def _inflate(self, payload: bytes) -> bytes:
        if self._inflater is None:
            self._fail(ProtocolError("a compressed frame without permessage-deflate"))
            return b""
        data: bytes = self._inflater.decompress(payload + b"\x00\x00\xff\xff")
        if self._reset_inflater:
            self._inflater = zlib.decompressobj(-self._window_bits)
        return data

    def _packet(self, payload: bytes) -> None:
        if payload[:2] == b"42":
            if self.on_packet is not None:
                self.on_packet(self, payload)
        elif payload == b"2":
            self._write("3")
        elif payload[:1] == b"0":
            self._write("40")
        elif payload[:2] == b"40":
            self.sid = json.loads(payload[2:]).get("sid")
            if not self.connected.done():
                self.connected.set_result(None)
        elif payload[:2] == b"44":
            self._fail(ProtocolError(f"namespace refused: {payload[2:80].decode()}"))
        elif payload[:2] == b"41" or payload == b"1":
            self.close_reason = f"server closed the session ({payload.decode()})"
            self._abort()

    def _write(self, text: str, opcode: int = _OP_TEXT) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(text, opcode))

    def _fail(self, exc: Exception) -> None:
        self.close_reason = str(exc)
        if not self.connected.done():
            self.connected.set_exception(exc)
        self._abort()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- the benchmark's side ------------------------------------------------------------

    def emit(self, event: str, data: Any) -> bool:
        """Send ``42[event, data]``; False when the connection is gone."""
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(encode_frame("42" + json.dumps([event, data], separators=(",", ":"))))
        return True

    def close(self) -> None:
        """Drop the TCP connection: a benchmark tears down thousands at once."""
        self._abort()
        self.closed.set()


async def open_client(
    host: str, port: int, on_packet: PacketHandler | None = None, timeout: float = 20.0
) -> LeanClient:
    loop = asyncio.get_running_loop()
    client = LeanClient(host, port, on_packet)
    try:
        async with asyncio.timeout(timeout):
            await loop.create_connection(lambda: client, host, port)
            await client.connected
    except BaseException:
        client.close()
        raise
    return client


async def open_clients(
    targets: list[tuple[str, int]],
    on_packet: PacketHandler | None = None,
    *,
    concurrency: int = 100,
    timeout: float = 20.0,
) -> tuple[list[LeanClient | None], Counter[str]]:
    """One client per ``(host, port)`` target, in order (``None`` where it failed)."""
    gate = asyncio.Semaphore(concurrency)
    failures: Counter[str] = Counter()

    async def one(host: str, port: int) -> LeanClient | None:
        async with gate:
            try:
                return await open_client(host, port, on_packet, timeout)
            except Exception as exc:
                failures[_cause(exc)] += 1
                return None

    clients = await asyncio.gather(*(one(host, port) for host, port in targets))
    return list(clients), failures


def _cause(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "TimeoutError"
    text = str(exc).splitlines()[0][:100] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def close_all(clients: list[LeanClient | None]) -> None:
    for client in clients:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
