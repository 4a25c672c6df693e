"""The WebSocket transport (app/websocket.py): no permessage-deflate, broadcasts framed once and
written by the broadcaster to idle connections.

The upgrade is checked over a raw socket, because what matters is the response and the first
frame's header bits exactly as a browser gets them; the frame builder is checked byte for byte
against wsproto, which simple-websocket would otherwise have used for every client.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
from types import SimpleNamespace
from typing import Any

import gevent
import gevent.queue
import gevent.socket
import pytest
from engineio import packet as eio_packet
from wsproto.connection import ConnectionState
from wsproto.frame_protocol import FrameProtocol

from app import create_app
from app.config import Settings
from app.websocket import _GatedSocket, text_frame
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
    # app/wire.py's frame checks subclass it.
    assert "CompactWebSocket" in [c.__name__ for c in eio._async["websocket"].__mro__]


def _compact_websocket(sock: Any) -> Any:
    """A ``CompactWebSocket`` over ``sock``, with engineio's side as plain state."""
    app = create_app(Settings(secret_key="test"))
    cls = app.extensions["socketio"].server.eio._async["websocket"]
    ws = cls.__new__(cls)
    ws.eio_socket = SimpleNamespace(
        queue=gevent.queue.Queue(), upgraded=True, upgrading=False, closing=False, closed=False
    )
    ws.ws = SimpleNamespace(connected=True, ws=SimpleNamespace(state=ConnectionState.OPEN))
    ws.ws.sock = _GatedSocket(sock)  # what CompactWebSocket hands simple-websocket
    return ws


def _packet(text: str) -> eio_packet.Packet:
    return eio_packet.Packet(eio_packet.MESSAGE, data=text)


def test_idle_connection_is_written_by_the_broadcaster() -> None:
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ws = _compact_websocket(ours)
        pkt = _packet('2["receive_message",{"message":"hi"}]')
        assert ws.write_now(pkt)
        expected = text_frame(pkt.encode())
        assert theirs.recv(len(expected) + 10) == expected
        assert ws.eio_socket.queue.qsize() == 0


@pytest.mark.parametrize("state", ["queued", "writing", "closing", "binary"])
def test_anything_ahead_or_unusual_takes_the_queue(state: str) -> None:
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ws = _compact_websocket(ours)
        pkt = _packet("2hello")
        if state == "queued":
            ws.eio_socket.queue.put(_packet("2earlier"))
        elif state == "writing":
            ws.writing = True
        elif state == "closing":
            ws.eio_socket.closing = True
        else:
            pkt = eio_packet.Packet(eio_packet.MESSAGE, data=b"\x00\x01")
        assert not ws.write_now(pkt)
        theirs.setblocking(False)
        with pytest.raises(BlockingIOError):
            theirs.recv(100)  # nothing was written


def test_a_raw_socket_is_left_to_the_queue() -> None:
    """Only a socket the CompactWebSocket gated itself is written directly."""
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ws = _compact_websocket(ours)
        ws.ws.sock = ours
        assert not ws.write_now(_packet("2hello"))


def test_a_partly_written_frame_queues_its_tail_for_the_writer() -> None:
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        ws = _compact_websocket(ours)
        pkt = _packet("2" + "x" * 500_000)  # far more than the socket buffers take at once
        assert ws.write_now(pkt)
        frame = text_frame(pkt.encode())
        (marker,) = [ws.eio_socket.queue.get_nowait()]
        assert ws.ws.sock.tail
        assert not ws.write_now(_packet("2later"))  # nothing overtakes a pending tail
        received = b""
        writer = gevent.spawn(ws.send, marker.encode())  # what engineio's writer does with it
        while len(received) < len(frame):
            received += theirs.recv(1 << 16)
        writer.get(timeout=10)
        assert received == frame
        assert not ws.writing


def test_a_full_socket_leaves_the_packet_to_the_queue() -> None:
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ours.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                ours.send(b"\x00" * 65536)  # fill every buffer; nobody reads
        ws = _compact_websocket(ours)
        assert not ws.write_now(_packet("2hello"))


def test_the_readers_own_writes_wait_for_a_pending_tail() -> None:
    """simple-websocket's reader answers a Ping (or a Close) with its own ``sock.send``; that
    control frame must follow the whole data frame, never land inside it."""
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        ws = _compact_websocket(ours)
        pkt = _packet("2" + "y" * 300_000)
        assert ws.write_now(pkt)
        frame = text_frame(pkt.encode())
        assert ws.ws.sock.tail, "the kernel took only part of the frame"
        pong = FrameProtocol(client=False, extensions=[]).pong(b"hb")
        reader = gevent.spawn(ws.ws.sock.send, pong)  # as simple-websocket's reader does
        gevent.sleep(0)
        received = b""
        while len(received) < len(frame) + len(pong):
            received += theirs.recv(1 << 16)
        reader.get(timeout=10)
        assert received == frame + pong
        assert not ws.ws.sock.tail
        # the writer, woken by the marker afterwards, finds nothing left to write
        ws.send(ws.eio_socket.queue.get_nowait().encode())
        theirs.setblocking(False)
        with pytest.raises(BlockingIOError):
            theirs.recv(100)
