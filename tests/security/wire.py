"""Raw Engine.IO / Socket.IO clients for hostile-client tests: they send exactly the bytes asked.

The real python-socketio client never sends a malformed packet, so these speak the wire
directly: WebSocket frames with websocket-client, polling with requests.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import requests
import websocket

from tests.support.procs import ChatServer

#: Packets the server sends that a test waits for: an ack ``43<id>[...]`` or an event ``42[...]``.
ACK = re.compile(r"43(\d+)(\[.*)", re.S)
CLOSE_OPCODE = websocket.ABNF.OPCODE_CLOSE


def close_code(payload: bytes) -> int | None:
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None


@dataclass
class RawSocket:
    """A WebSocket to ``/socket.io/`` that has done the Engine.IO open and, if asked, ``40``."""

    server: ChatServer
    origin: str | None = None
    connect: bool = True
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        url = f"ws://127.0.0.1:{self.server.port}/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(
            url,
            timeout=30,
            origin=self.origin if self.origin is not None else self.server.url,
            header=[f"{k}: {v}" for k, v in self.headers.items()],
            enable_multithread=True,
        )
        opened = self.ws.recv()
        assert isinstance(opened, str) and opened.startswith("0{"), opened
        self.sid = json.loads(opened[1:])["sid"]
        self.received: list[str] = []
        self.closed_with: int | None = None
        if self.connect:
            self.ws.send("40")
            assert self.next_packet(lambda p: p.startswith("40")) is not None

    def send(self, text: str) -> bool:
        """False once the server has closed the connection."""
        try:
            self.ws.send(text)
            return True
        except (OSError, websocket.WebSocketException):
            return False

    def send_binary(self, data: bytes) -> bool:
        try:
            self.ws.send_binary(data)
            return True
        except (OSError, websocket.WebSocketException):
            return False

    def frame(self, timeout: float = 15) -> tuple[int, bytes] | None:
        """The next frame (opcode, payload), answering pings; None on timeout or a dead socket."""
        self.ws.settimeout(timeout)
        try:
            opcode, data = self.ws.recv_data(control_frame=True)
        except (TimeoutError, websocket.WebSocketTimeoutException):
            return None
        except (OSError, websocket.WebSocketException):
            return (CLOSE_OPCODE, b"")
        if opcode == CLOSE_OPCODE:
            self.closed_with = close_code(data)
        elif opcode == websocket.ABNF.OPCODE_TEXT:
            text = data.decode()
            self.received.append(text)
            if text == "2":
                self.send("3")
        return opcode, data

    def next_packet(self, match: Any, timeout: float = 15) -> str | None:
        """The first text packet from now on for which ``match`` is true."""
        import time

        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            got = self.frame(left)
            if got is None:
                return None
            opcode, data = got
            if opcode == CLOSE_OPCODE:
                return None
            if opcode == websocket.ABNF.OPCODE_TEXT and match(data.decode()):
                return data.decode()
        return None

    def wait_closed(self, timeout: float = 15) -> int | None:
        """The close code the server sent (0 if the socket just ended), None if still open."""
        import time

        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            got = self.frame(left)
            if got is None:
                return None
            if got[0] == CLOSE_OPCODE:
                return self.closed_with or 0
        return None

    def ack(self, packet_id: int, timeout: float = 15) -> Any:
        """The payload of the server's ack ``43<packet_id>[...]``."""
        found = self.next_packet(lambda p: p.startswith(f"43{packet_id}["), timeout)
        assert found is not None, f"no ack {packet_id}; got {self.received[-5:]}"
        return json.loads(found[len(f"43{packet_id}") :])[0]

    def close(self) -> None:
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self.ws.close(timeout=1)


class Polling:
    """An Engine.IO polling session: handshake GET, then POSTs of raw bodies and GET polls."""

    def __init__(self, server: ChatServer, origin: str | None = None) -> None:
        self.base = f"{server.url}/socket.io/"
        self.http = requests.Session()
        self.headers = {"Origin": origin or server.url}
        opened = self.http.get(
            self.base, params={"EIO": "4", "transport": "polling"}, headers=self.headers, timeout=30
        )
        assert opened.status_code == 200, opened.text
        self.sid = json.loads(opened.text[1:].split("\x1e")[0])["sid"]

    def post(self, body: Any, timeout: float = 30) -> requests.Response:
        """``body``: text, bytes, or an iterator of chunks (sent chunked)."""
        data = body.encode() if isinstance(body, str) else body
        return self.http.post(
            self.base,
            params={"EIO": "4", "transport": "polling", "sid": self.sid},
            data=data,
            headers={**self.headers, "Content-Type": "text/plain;charset=UTF-8"},
            timeout=timeout,
        )

    def poll(self, timeout: float = 30) -> list[str]:
        got = self.http.get(
            self.base,
            params={"EIO": "4", "transport": "polling", "sid": self.sid},
            headers=self.headers,
            timeout=timeout,
        )
        assert got.status_code in (200, 400), got.status_code
        return got.text.split("\x1e") if got.status_code == 200 else []
