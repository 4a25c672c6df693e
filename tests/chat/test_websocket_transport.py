"""The WebSocket transport (app/websocket.py): no permessage-deflate, broadcasts framed once and
written by the broadcaster to idle connections.

The upgrade is checked over a raw socket, because what matters is the response and the first
frame's header bits exactly as a browser gets them; the frame builder is checked byte for byte
against wsproto, which simple-websocket would otherwise have used for every client.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import gevent
import gevent.queue
import gevent.socket
import pytest
import websocket as websocket_client
from engineio import packet as eio_packet
from wsproto.connection import ConnectionState
from wsproto.frame_protocol import FrameProtocol

from app import create_app, websocket
from app.config import Settings
from app.websocket import text_frame
from tests.support.procs import ROOT, ChatServer

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
    ws.ws.sock = websocket._GatedSocket(sock)  # what CompactWebSocket hands simple-websocket
    ws.pending = []
    ws.coalescer = websocket.Coalescer()
    ws.queue_send = ws.eio_socket.queue.put  # what engineio's Socket.send ends in
    return ws


def _packet(text: str) -> eio_packet.Packet:
    return eio_packet.Packet(eio_packet.MESSAGE, data=text)


def _queued(ws: Any) -> list[bytes]:
    """What engineio's writer would send, in order, as bytes on the wire."""
    out = []
    while ws.eio_socket.queue.qsize():
        message = ws.eio_socket.queue.get_nowait().encode()
        if hasattr(message, "raw"):
            out.append(message.raw)
        else:
            out.append(text_frame(message) if isinstance(message, str) else message)
    return out


def test_a_reply_is_written_at_once_by_the_caller() -> None:
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ws = _compact_websocket(ours)
        pkt = _packet('3["ack",{"ok":true}]')
        ws.send_packet(pkt, flush=True)
        expected = text_frame(pkt.encode())
        assert theirs.recv(len(expected) + 10) == expected
        assert ws.fast and ws.eio_socket.queue.qsize() == 0


def test_broadcast_frames_coalesce_in_order_and_an_ack_flushes_behind_them() -> None:
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ws = _compact_websocket(ours)
        coalescer = ws.coalescer = websocket.Coalescer(tick=0.05)
        coalescer.last = time.monotonic()  # a flush just ran: the next waits for the tick
        frames = []
        for n in range(5):
            pkt = _packet(f'2["receive_message",{{"n":{n}}}]')
            frames.append(text_frame(pkt.encode()))
            ws.send_packet(pkt, flush=False)
        theirs.setblocking(False)
        with pytest.raises(BlockingIOError):
            theirs.recv(100)  # held for the tick
        ack = _packet('3[{"ok":true}]')
        ws.send_packet(ack, flush=True)  # the sender's ack: at once, behind them
        frames.append(text_frame(ack.encode()))
        theirs.setblocking(True)
        got = b""
        while len(got) < len(b"".join(frames)):
            got += theirs.recv(1 << 16)
        assert got == b"".join(frames)
        gevent.sleep(0.1)  # the scheduled flush finds nothing left
        theirs.setblocking(False)
        with pytest.raises(BlockingIOError):
            theirs.recv(100)


def test_the_coalescer_flushes_at_once_when_quiet_and_on_the_tick_when_busy() -> None:
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ws = _compact_websocket(ours)
        ws.coalescer = websocket.Coalescer(tick=0.2)
        pkt = _packet("2one")
        ws.send_packet(pkt, flush=False)
        started = time.monotonic()
        gevent.sleep(0)  # the hub's next turn
        assert theirs.recv(100) == text_frame(pkt.encode())
        second = _packet("2two")
        ws.send_packet(second, flush=False)
        assert theirs.recv(100) == text_frame(second.encode())
        assert time.monotonic() - started >= 0.15  # a tick after the first flush


@pytest.mark.parametrize("state", ["queued", "writing", "closing", "binary", "ping"])
def test_anything_ahead_or_unusual_takes_the_queue_behind_what_is_pending(state: str) -> None:
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ws = _compact_websocket(ours)
        early = _packet("2pending")
        ws.send_packet(early, flush=False)  # pending, not yet flushed
        pkt = _packet("2hello")
        if state == "queued":
            ws.eio_socket.queue.put(_packet("2earlier"))
        elif state == "writing":
            ws.writing = True
        elif state == "closing":
            ws.eio_socket.closing = True
        elif state == "ping":  # the writer must see one, or it closes the connection as idle
            pkt = eio_packet.Packet(eio_packet.PING)
        else:
            pkt = eio_packet.Packet(eio_packet.MESSAGE, data=b"\x00\x01")
        if state != "ping":
            ws.fast = False  # the state changed: what the writer or a close does
        ws.send_packet(pkt, flush=True)
        theirs.setblocking(False)
        with pytest.raises(BlockingIOError):
            theirs.recv(100)  # nothing was written by the caller
        queued = _queued(ws)
        if state == "queued":
            assert queued[:2] == [
                text_frame(_packet("2earlier").encode()),
                text_frame(early.encode()),
            ]
        else:
            assert queued[0] == text_frame(early.encode())
        if state != "binary":
            assert queued[-1] == text_frame(pkt.encode())


def test_a_partly_written_frame_queues_its_tail_for_the_writer() -> None:
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        ws = _compact_websocket(ours)
        pkt = _packet("2" + "x" * 500_000)  # far more than the socket buffers take at once
        ws.send_packet(pkt, flush=True)
        later = _packet("2later")
        ws.send_packet(later, flush=True)  # must not overtake the tail
        assert not ws.fast
        frame = text_frame(pkt.encode()) + text_frame(later.encode())
        tail, after = ws.eio_socket.queue.get_nowait(), ws.eio_socket.queue.get_nowait()
        received = b""

        def writer() -> None:  # what engineio's writer does with them
            ws.send(tail.encode())
            ws.send(after.encode())

        task = gevent.spawn(writer)
        while len(received) < len(frame):
            received += theirs.recv(1 << 16)
        task.get(timeout=10)
        assert received == frame
        assert not ws.writing


def test_a_raw_socket_is_left_to_the_queue() -> None:
    """Only a socket the CompactWebSocket gated itself is written directly."""
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ws = _compact_websocket(ours)
        ws.ws.sock = ours
        pkt = _packet("2hello")
        ws.send_packet(pkt, flush=True)
        assert not ws.fast
        assert _queued(ws) == [text_frame(pkt.encode())]


def test_the_readers_own_writes_wait_for_a_pending_tail() -> None:
    """simple-websocket's reader answers a Ping (or a Close) with its own ``sock.send``; that
    control frame must follow the whole data frame, never land inside it."""
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        ws = _compact_websocket(ours)
        pkt = _packet("2" + "y" * 300_000)
        ws.send_packet(pkt, flush=True)
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


def test_a_full_socket_leaves_the_frames_to_the_queue() -> None:
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ours.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                ours.send(b"\x00" * 65536)  # fill every buffer; nobody reads
        ws = _compact_websocket(ours)
        pkt = _packet("2hello")
        ws.send_packet(pkt, flush=True)
        assert not ws.fast
        assert _queued(ws) == [text_frame(pkt.encode())]


def test_untested_releases_get_the_stock_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(websocket.TESTED_VERSIONS, "python-engineio", "0.0.0")
    assert websocket.untested_versions()
    app = create_app(Settings(secret_key="test"))
    eio = app.extensions["socketio"].server.eio
    assert eio._async["websocket"].__name__ != "CompactWebSocket"


def test_the_tested_releases_are_the_installed_ones() -> None:
    """Upgrading a pinned library must be a decision: re-run the tests, then move the pins."""
    assert websocket.untested_versions() == []


class RawMember:
    """A WebSocket Engine.IO client that reads packets strictly in arrival order.

    (python-socketio's client handles each event in a thread of its own, so what it records
    is not the order the server wrote.)"""

    def __init__(self, url: str, username: str, room: str) -> None:
        ws_url = url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket_client.create_connection(ws_url, timeout=30)
        assert self.ws.recv().startswith("0")
        self.ws.send("40")
        assert self.ws.recv().startswith("40")
        self.ws.send("420" + json.dumps(["join_room", {"username": username, "room": room}]))
        self.packets: list[str] = []

    def read_until(self, done: Callable[[list[str]], bool]) -> None:
        while not done(self.packets):
            packet = self.ws.recv()
            if packet == "2":
                self.ws.send("3")
            else:
                self.packets.append(packet)

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(p[2:])[1] for p in self.packets if p.startswith('42["receive_message"')]


@pytest.mark.parametrize("app", ["app:create_app()", "tests.support.stock_app:create_app()"])
def test_every_member_gets_every_message_in_order_and_each_ack_after_its_message(
    app: str,
) -> None:
    """Ordering under coalescing, through a real server, on the fast path and the stock one.

    Three senders flood one room without waiting for acks; every member must see every
    message, all members in the same order, each sender's in the order sent, and each sender
    its own message before that message's ack.
    """
    chat = ChatServer(env={"REDIS_URL": "", "KAFKA_BOOTSTRAP_SERVERS": ""}, app=app)
    chat.env.update(RATE_LIMIT_MESSAGES="100000", RATE_LIMIT_BURST="100000")
    chat.start()
    members: list[RawMember] = []
    try:
        for n in range(6):
            members.append(RawMember(chat.url, f"m{n}", "order"))
            members[-1].read_until(lambda ps: any(p.startswith('42["history"') for p in ps))
        senders, count = members[:3], 150
        for i in range(count):
            for n, sender in enumerate(senders):
                event = ["send_message", {"room": "order", "message": f"{n}:{i}"}]
                sender.ws.send(f"42{1000 + i}" + json.dumps(event))
        total = 3 * count
        for member in members:
            member.read_until(lambda ps: sum('42["receive_message"' in p for p in ps) >= total)
        orders = [[m["id"] for m in member.messages()] for member in members]
        assert all(order == orders[0] for order in orders), "members saw different orders"
        assert orders[0] == sorted(orders[0]) and len(set(orders[0])) == total
        texts = [m["message"] for m in members[-1].messages()]
        for n, sender in enumerate(senders):
            mine = [int(t.split(":")[1]) for t in texts if t.startswith(f"{n}:")]
            assert mine == list(range(count))
            sender.read_until(lambda ps: sum(p.startswith("43") for p in ps) >= count)
            seen: set[str] = set()
            for packet in sender.packets:
                if packet.startswith('42["receive_message"'):
                    seen.add(json.loads(packet[2:])[1]["id"])
                elif packet.startswith("43") and not packet.startswith("430"):
                    ack = json.loads(packet[packet.index("[") :])[0]
                    assert ack["id"] in seen, "an ack overtook its own message"
    finally:
        for member in members:
            with contextlib.suppress(Exception):
                member.ws.close()
        chat.kill()


def test_one_pinger_pings_every_socket_when_due_and_then_exits() -> None:
    server = SimpleNamespace(
        ping_interval=0.05, start_background_task=gevent.spawn, sleep=gevent.sleep
    )
    pinger = websocket.Pinger(server)
    sent: list[tuple[str, int]] = []

    def socket_(name: str, **state: Any) -> Any:
        s = SimpleNamespace(last_ping=1.0, closing=False, closed=False, **state)
        s.send = lambda pkt: sent.append((name, pkt.packet_type))
        return s

    a, b, gone = socket_("a"), socket_("b"), socket_("gone")
    for s in (a, b, gone):
        pinger.schedule(s)
    pinger.schedule(a)  # the previous ping was not answered yet: nothing more to schedule
    gone.closed = True
    assert pinger.running and not sent
    gevent.sleep(0.2)
    assert sent == [("a", eio_packet.PING), ("b", eio_packet.PING)]
    assert a.last_ping and b.last_ping  # engineio's ping timeout check reads them
    assert not pinger.running  # nothing due: no greenlet left


def test_the_factory_serves_pings_from_one_pinger() -> None:
    app = create_app(Settings(secret_key="test"))
    eio = app.extensions["socketio"].server.eio
    assert isinstance(eio.livechat_pinger, websocket.Pinger)


def test_the_writer_runs_only_while_something_is_queued() -> None:
    ours, theirs = gevent.socket.socketpair()
    with ours, theirs:
        ws = _compact_websocket(ours)
        app = create_app(Settings(secret_key="test"))
        queue_class = app.extensions["socketio"].server.eio._async["queue"]
        ws.eio_socket.queue = queue_class()
        ws.eio_socket.server = SimpleNamespace(start_background_task=gevent.spawn)
        ws.queue_send = ws.eio_socket.queue.put
        ws.eio_socket.queue.on_put = ws.wake_writer  # what serve() does after the upgrade
        assert ws.writer is None  # idle: no greenlet
        ping = eio_packet.Packet(eio_packet.PING)
        ws.send_packet(ping, flush=True)  # pings take the queue
        assert ws.writer is not None and not ws.fast
        assert theirs.recv(100) == text_frame(ping.encode())
        gevent.sleep(0)
        assert ws.writer is None  # the queue is empty again: the writer is gone
        pkt = _packet("2after")
        ws.send_packet(pkt, flush=True)  # back on the fast path, without a writer
        assert ws.fast and ws.writer is None
        assert theirs.recv(100) == text_frame(pkt.encode())


def test_the_tested_releases_are_the_constraints_pins() -> None:
    """``TESTED_VERSIONS`` (checked at start, also inside the image) and constraints.txt (what
    make and the Dockerfile install) must name the same releases."""
    pins = dict(
        line.split("==")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for name, version in websocket.TESTED_VERSIONS.items():
        assert pins.get(name) == version, name
