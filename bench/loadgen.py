"""A lean asyncio Socket.IO load generator: thousands of clients in one process and one core.

python-socketio's own client starts threads per connection, too heavy for thousands of them on a
two-core machine. This client speaks just enough of Engine.IO v4 / Socket.IO v5 over a raw
WebSocket (the ``websockets`` package, no polling, no compression): the ``0{...}`` open packet,
``40`` to join the default namespace and its ``40{"sid"}`` answer, a ``3`` for each server ping
``2``, and ``42[event, data]`` events both ways. Nothing else is needed to load the chat server,
and every other packet is ignored.

Reusable by any benchmark: ``connect_clients`` opens many clients with bounded concurrency and
reports the failures by cause, ``SocketIOClient.emit`` sends, ``on_event`` receives, and
``cpu_seconds`` / ``percentile`` help build the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

#: ``(client, event name, event data)``; called on the event loop for every ``42`` packet.
EventHandler = Callable[["SocketIOClient", str, Any], None]


class HandshakeError(RuntimeError):
    """The server answered the WebSocket, but not with a Socket.IO session."""


def socketio_url(base_url: str, path: str = "/socket.io/") -> str:
    """``http://host:port`` to the WebSocket-only Engine.IO v4 endpoint."""
    scheme, _, rest = base_url.partition("://")
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}://{rest.rstrip('/')}{path}?EIO=4&transport=websocket"


class SocketIOClient:
    """One Socket.IO connection on the default namespace, over WebSocket only."""

    def __init__(self, url: str, on_event: EventHandler | None = None) -> None:
        self.url = url
        self.on_event = on_event
        self.sid: str | None = None
        self.ws: ClientConnection | None = None
        self.closed = asyncio.Event()
        self.close_reason: str | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def upgrade_headers(self) -> dict[str, str]:
        """The server's ``101 Switching Protocols`` headers (a fingerprint of its stack)."""
        if self.ws is None or self.ws.response is None:
            return {}
        return dict(self.ws.response.headers.raw_items())

    async def connect(self, timeout: float = 30.0) -> None:
        """Open the WebSocket and the Socket.IO session; raise on any failure."""
        async with asyncio.timeout(timeout):
            self.ws = await connect(
                self.url,
                compression=None,
                ping_interval=None,  # Engine.IO pings at its own level; the server drives them
                max_size=2**20,
                open_timeout=None,  # bounded by the surrounding timeout
                close_timeout=1,
            )
            opening = await self.ws.recv()
            if not isinstance(opening, str) or not opening.startswith("0"):
                raise HandshakeError(f"expected an Engine.IO open packet, got {opening!r:.80}")
            await self.ws.send("40")
            while True:
                packet = await self.ws.recv()
                if isinstance(packet, str) and packet.startswith("40"):
                    self.sid = json.loads(packet[2:]).get("sid")
                    break
                if isinstance(packet, str) and packet.startswith("44"):
                    raise HandshakeError(f"namespace connection refused: {packet[2:]:.80}")
                if packet == "2":
                    await self.ws.send("3")
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for packet in self.ws:
                if not isinstance(packet, str):
                    continue
                if packet == "2":
                    await self.ws.send("3")
                elif packet.startswith("42"):
                    if self.on_event is not None:
                        name, *args = json.loads(packet[2:])
                        self.on_event(self, name, args[0] if args else None)
                elif packet.startswith("41") or packet == "1":
                    self.close_reason = f"server closed the session ({packet})"
                    break
        except ConnectionClosed as exc:
            self.close_reason = f"connection closed ({exc.rcvd.code if exc.rcvd else 'no frame'})"
        finally:
            self.closed.set()

    async def emit(self, event: str, data: Any) -> None:
        """Send ``42[event, data]``; raises ``ConnectionClosed`` if the socket is gone."""
        assert self.ws is not None
        await self.ws.send("42" + json.dumps([event, data], separators=(",", ":")))

    async def close(self) -> None:
        """Close without waiting for the server: a benchmark tears down thousands at once."""
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            self.ws.transport.abort()
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
