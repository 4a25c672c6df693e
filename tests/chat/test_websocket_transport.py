"""The WebSocket transport (app/websocket.py): no permessage-deflate, broadcasts framed once.

The upgrade is checked over a raw socket, because what matters is the response and the first
frame's header bits exactly as a browser gets them; the frame builder is checked byte for byte
against wsproto, which simple-websocket would otherwise have used for every client.
"""

from __future__ import annotations

import base64
import os
import socket

import pytest
from wsproto.frame_protocol import FrameProtocol

from app import create_app
from app.config import Settings
from app.websocket import text_frame
from tests.support.procs import ChatServer

BROWSER_OFFER = "permessage-deflate; client_max_window_bits"


def upgrade(server: ChatServer, extensions: str | None) -> tuple[bytes, bytes]:
    """The upgrade response's head and the first frame's bytes that came with or after it."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        + (f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else "")
        + "\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 2:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


@pytest.mark.parametrize("extensions", [BROWSER_OFFER, "permessage-deflate", None])
def test_upgrade_declines_compression(server: ChatServer, extensions: str | None) -> None:
    head, first_frame = upgrade(server, extensions)
    assert head.startswith(b"HTTP/1.1 101"), head
    assert b"sec-websocket-extensions" not in head.lower(), head
    # The Engine.IO open packet: a final text frame (0x81) without RSV1, i.e. not compressed.
    assert first_frame[0] == 0x81, first_frame[:8]
    assert first_frame[2:3] == b"0", first_frame[:8]


@pytest.mark.parametrize(
    "text",
    ["", "4", "x" * 125, "x" * 126, "é" * 300, "x" * 65535, "x" * 65536, '42["m",{"t":"ü🙂"}]'],
)
def test_text_frame_matches_wsproto(text: str) -> None:
    expected = FrameProtocol(client=False, extensions=[]).send_data(text, fin=True)
    assert text_frame(text) == expected
    assert text_frame(text) == expected  # from the cache
    copy = "".join(list(text))  # equal, but another object: framed on its own
    assert text_frame(copy) == expected


def test_frames_are_cached_by_identity_not_equality() -> None:
    first, second = "4" + "a" * 10, "4" + "b" * 10
    assert text_frame(first) != text_frame(second)
    assert text_frame(first) is text_frame(first)


def test_factory_installs_the_compact_websocket() -> None:
    app = create_app(Settings(secret_key="test"))
    eio = app.extensions["socketio"].server.eio
    assert eio._async["websocket"].__name__ == "CompactWebSocket"
