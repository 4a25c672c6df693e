"""A bounded-time fuzzer of the Engine.IO / Socket.IO wire, over WebSocket and polling.

For ``FUZZ_SECONDS`` two threads throw random and mutated packets at a real server: valid
packets with bytes flipped, cut or repeated, random text and bytes, binary frames, oversized
and truncated bodies, deep JSON, reserved and unknown events, stray ACKs and CONNECTs, random
polling bodies and query strings. Meanwhile two well-behaved clients (one per transport) chat
in the same room. Asserted: every message the server acknowledged reaches both clients; no
HTTP answer is a 5xx; no request hangs (each has a timeout); the log stays within its budget
with no traceback; the server is alive and ready afterwards. The seed is printed on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
import websocket

from tests.security.observe import EMBEDDED, log_bound, log_lines, malformed_total
from tests.security.wire import RawSocket
from tests.support.clients import RecordingClient
from tests.support.procs import ChatServer, wait_until

FUZZ_SECONDS = float(os.environ.get("LIVECHAT_FUZZ_SECONDS", "20"))
ROOM = "fuzzroom"

VALID = [
    "40",
    '42["join_room",{"username":"fz","room":"fuzzroom"}]',
    '421["send_message",{"room":"fuzzroom","message":"hello"}]',
    '422["leave_room",{"room":"fuzzroom"}]',
    '423["send_message",{"room":"lobby","message":"x"}]',
    "3",
    "41",
]
SPECIAL = [
    '42["connect"]',
    '42["disconnect"]',
    "42[]",
    "42{}",
    "42[1,2,3]",
    '42["x"',
    "43" + "1" * 30 + "[]",
    "431[{}]",
    '451-["send_message",{"_placeholder":true,"num":0}]',
    '461-[{"_placeholder":true,"num":0}]',
    "40/admin,",
    '40{"token":1}',
    "44",
    "49",
    '42/nope,["send_message",{}]',
    '42["send_message",' + "[" * 3000 + "]" * 3000 + "]",
    '42["send_message",' + "{" * 2000,
    '42["send_message","' + "\\ud800" * 10 + '"]',
    '42["send_message",{"room":"fuzzroom","message":"' + "x" * 70000 + '"}]',
]


def mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(chars) + 1)
        if op == 0 and chars:  # flip one character
            chars[min(pos, len(chars) - 1)] = chr(rng.randrange(0x20, 0x3000))
        elif op == 1:  # insert random characters
            chars[pos:pos] = [chr(rng.randrange(0, 0x110000 - 0x800) % 0xD800) for _ in range(3)]
        elif op == 2:  # truncate
            chars = chars[:pos]
        elif op == 3 and chars:  # repeat a slice
            chars[pos:pos] = chars[: rng.randrange(1, len(chars) + 1)]
        else:  # separators and control characters
            chars[pos:pos] = [rng.choice(["\x1e", "\x00", '"', "]", "[", "{", "-", "/", ","])]
    return "".join(chars)


def packet(rng: random.Random) -> str | bytes:
    roll = rng.random()
    if roll < 0.35:
        return mutate(rng, rng.choice(VALID + SPECIAL))
    if roll < 0.55:
        return rng.choice(SPECIAL)
    if roll < 0.65:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if roll < 0.8:
        return "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randrange(0, 60)))
    if roll < 0.85:
        return "4" + "2" * rng.randrange(64 * 1024, 80 * 1024)
    return rng.choice("0123456789b") + mutate(rng, rng.choice(VALID)[1:])


class Fuzzer:
    def __init__(self, server: ChatServer, seed: int) -> None:
        self.server = server
        self.seed = seed
        self.failures: list[str] = []
        self.sent = 0
        self.deadline = time.monotonic() + FUZZ_SECONDS

    def check_status(self, what: str, status: int) -> None:
        if status >= 500:
            self.failures.append(f"{what}: {status}")

    def websocket(self, rng: random.Random) -> None:
        while time.monotonic() < self.deadline:
            try:
                raw = RawSocket(self.server, connect=rng.random() < 0.8)
            except websocket.WebSocketBadStatusException as exc:
                self.check_status("ws handshake", exc.status_code)
                continue
            try:
                for _ in range(rng.randrange(1, 30)):
                    data = packet(rng)
                    ok = raw.send_binary(data) if isinstance(data, bytes) else raw.send(data)
                    self.sent += 1
                    if not ok:
                        break
                    got = raw.frame(0.01)
                    if got and got[1].startswith(b"HTTP/"):
                        self.failures.append(f"HTTP written into a WebSocket: {got[1][:40]!r}")
            except websocket.WebSocketProtocolException as exc:  # garbage from the server
                self.failures.append(f"bad frame from the server: {exc}")
            finally:
                raw.close()

    def polling(self, rng: random.Random) -> None:
        base = f"{self.server.url}/socket.io/"
        http = requests.Session()
        headers = {"Origin": self.server.url}
        while time.monotonic() < self.deadline:
            roll = rng.random()
            try:
                if roll < 0.15:  # random query strings and methods
                    query = rng.choice(
                        [
                            "EIO=3&transport=polling",
                            "EIO=4&transport=carrier-pigeon",
                            "EIO=4&transport=polling&sid=nope",
                            "EIO=4&transport=polling&j=1",
                            "EIO=4&transport=websocket",
                            mutate(rng, "EIO=4&transport=polling&t=abc"),
                        ]
                    )
                    method = rng.choice(["GET", "POST", "PUT", "OPTIONS", "DELETE"])
                    answer = http.request(method, f"{base}?{query}", headers=headers, timeout=30)
                    self.check_status(f"{method} ?{query!r}", answer.status_code)
                    continue
                opened = http.get(
                    base, params={"EIO": "4", "transport": "polling"}, headers=headers, timeout=30
                )
                self.check_status("handshake", opened.status_code)
                if opened.status_code != 200:
                    continue
                sid = json.loads(opened.text[1:].split("\x1e")[0])["sid"]
                params = {"EIO": "4", "transport": "polling", "sid": sid}
                for _ in range(rng.randrange(1, 6)):
                    count = rng.choice([1, 1, 2, 5, 17, 70])
                    parts = [packet(rng) for _ in range(count)]
                    body = b"\x1e".join(p if isinstance(p, bytes) else p.encode() for p in parts)
                    if rng.random() < 0.1:
                        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 500)))
                    answer = http.post(
                        base,
                        params=params,
                        data=body if rng.random() < 0.8 else iter([body[:10], body[10:]]),
                        headers=headers,
                        timeout=30,
                    )
                    self.sent += count
                    self.check_status(f"POST {body[:60]!r}", answer.status_code)
                    if answer.status_code != 200:
                        break
                    if rng.random() < 0.5:
                        polled = http.get(base, params=params, headers=headers, timeout=60)
                        self.check_status("poll", polled.status_code)
            except requests.Timeout as exc:
                self.failures.append(f"a request hung: {exc}")
            except requests.ConnectionError:
                pass  # the server may close a connection it refused; that is a clean answer
        http.close()


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[ChatServer]:
    chat = ChatServer(env={**EMBEDDED, "MAX_CONNECTIONS_PER_ADDRESS": "0"}).start()
    yield chat
    chat.stop()


def chatter(client: RecordingClient, name: str, stop: threading.Event, acked: list[str]) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        ack = client.call("send_message", {"room": ROOM, "message": f"{name} {number}"}, 30)
        assert ack.get("ok"), ack
        acked.append(ack["id"])
        time.sleep(0.3)  # inside the flood limit (5/s)


def test_wire_fuzz_with_a_well_behaved_client_chatting(fuzz_server: ChatServer) -> None:
    seed = int(os.environ.get("LIVECHAT_FUZZ_SEED", str(random.randrange(1 << 32))))
    print(f"wire fuzz seed {seed} (LIVECHAT_FUZZ_SEED to replay)")
    lines_before, malformed_before = len(log_lines(fuzz_server)), malformed_total(fuzz_server)
    started = time.monotonic()
    ws_client = RecordingClient(fuzz_server.url)
    poll_client = RecordingClient(fuzz_server.url, transports=["polling"])
    for client, name in ((ws_client, "wsuser"), (poll_client, "polluser")):
        assert client.call("join_room", {"username": name, "room": ROOM})["ok"]
    fuzzer = Fuzzer(fuzz_server, seed)
    stop = threading.Event()
    acked: dict[str, list[str]] = {"ws": [], "poll": []}
    errors: list[BaseException] = []

    def guarded(target: Callable[..., None], *args: object) -> Callable[[], None]:
        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # reported below
                errors.append(exc)

        return run

    threads = [
        threading.Thread(target=guarded(fuzzer.websocket, random.Random(seed))),
        threading.Thread(target=guarded(fuzzer.polling, random.Random(seed + 1))),
        threading.Thread(target=guarded(chatter, ws_client, "ws", stop, acked["ws"])),
        threading.Thread(target=guarded(chatter, poll_client, "poll", stop, acked["poll"])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads[:2]:
        thread.join(FUZZ_SECONDS + 120)
        assert not thread.is_alive(), f"fuzzer hung (seed {seed})"
    stop.set()
    for thread in threads[2:]:
        thread.join(30)
    assert not errors, f"seed {seed}: {errors!r}"
    assert not fuzzer.failures, f"seed {seed}: {fuzzer.failures[:10]}"
    assert fuzzer.sent > 100, fuzzer.sent

    every = set(acked["ws"]) | set(acked["poll"])
    assert len(acked["ws"]) > 5 and len(acked["poll"]) > 5
    for client in (ws_client, poll_client):
        wait_until(
            lambda c=client: every <= {m["id"] for m in c.of("receive_message")},
            60,
            "every acknowledged message at both well-behaved clients",
        )
        assert client.connected
    ws_client.close()
    poll_client.close()

    assert requests.get(fuzz_server.url + "/healthz", timeout=5).status_code == 200
    assert requests.get(fuzz_server.internal_url + "/readyz", timeout=5).status_code == 200
    assert malformed_total(fuzz_server) > malformed_before
    added = log_lines(fuzz_server)[lines_before:]
    with contextlib.suppress(Exception):
        print(f"wire fuzz: {fuzzer.sent} packets, {len(added)} log lines")
    bound = log_bound(time.monotonic() - started)
    assert len(added) <= bound, f"seed {seed}: " + "\n".join(added[-30:])
    assert not [line for line in added if "Traceback" in line], f"seed {seed}"
