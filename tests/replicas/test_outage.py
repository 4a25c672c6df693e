"""Redis goes away and comes back; both replicas recover by themselves.

Two kinds of outage on the pair's private Redis:

- stopped: Redis shuts down (saving its data, as a persistent production Redis would) and is
  started again on the same data a few seconds later. Connections are refused meanwhile.
- frozen: Redis is paused (SIGSTOP) and resumed. Nothing is refused, nothing answers: this is
  what a network partition looks like, and only timeouts keep handlers from hanging.

During each, sends are refused with ``unavailable`` (ack and ``error`` event), ``/readyz`` is
503 and ``/healthz`` stays 200. After each, chat crosses replicas again without restarting
anything, and every message acknowledged as sent is in the history served by both replicas.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
import requests

from tests.replicas.pairs import Replicas, ids, metric, ready, record_figures
from tests.support.clients import RecordingClient
from tests.support.procs import wait_until

Make = Callable[..., Replicas]
ROOM = "outage"
OUTAGE_SECONDS = 4.0


class Chat:
    """alice on replica a and bob on replica b, and every id the server acknowledged."""

    def __init__(self, pair: Replicas) -> None:
        self.pair = pair
        self.alice = pair.joined(pair.a, ROOM, "alice")
        self.bob = pair.joined(pair.b, ROOM, "bob")
        self.acked: list[str] = []
        self.sent = 0

    def send(self, client: RecordingClient) -> dict[str, object]:
        self.sent += 1
        ack = client.call("send_message", {"room": ROOM, "message": f"m{self.sent}"}, timeout=15)
        if ack["ok"]:
            self.acked.append(ack["id"])
        return dict(ack)

    def crosses(self, sender: RecordingClient, receiver: RecordingClient) -> bool:
        ack = self.send(sender)
        if not ack["ok"]:
            return False
        try:
            receiver.wait_for("receive_message", lambda d: d["id"] == ack["id"], timeout=1)
        except AssertionError:
            return False
        return True

    def refused_during_outage(self) -> float:
        """Both replicas refuse a send with ``unavailable``; returns the slowest answer (s)."""
        slowest = 0.0
        for client in (self.alice, self.bob):
            client.clear()
            started = time.monotonic()
            ack = self.send(client)
            slowest = max(slowest, time.monotonic() - started)
            assert ack["ok"] is False and ack["code"] == "unavailable", ack
            client.wait_for("error", lambda d: d["code"] == "unavailable")
        return slowest

    def recovered(self) -> float:
        """Seconds until both replicas are ready and messages cross both ways again."""
        started = time.monotonic()
        for server in (self.pair.a, self.pair.b):
            wait_until(lambda s=server: ready(s)[0] == 200, 20, f"{server.url} ready again")
        for sender, receiver in ((self.alice, self.bob), (self.bob, self.alice)):
            wait_until(lambda s=sender, r=receiver: self.crosses(s, r), 20, "chat across replicas")
        return time.monotonic() - started

    def check_nothing_acked_is_lost(self) -> None:
        for server in (self.pair.a, self.pair.b):
            url = f"{server.url}/api/rooms/{ROOM}/messages"
            served = set(ids(requests.get(url, timeout=5).json()["messages"]))
            assert set(self.acked) <= served, set(self.acked) - served


def check_degraded(pair: Replicas) -> None:
    for server in (pair.a, pair.b):
        status, body = ready(server)
        assert status == 503 and "store" in body["failing"], body
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
        assert server.proc is not None and server.proc.poll() is None


@pytest.mark.timeout(150)
def test_redis_stopped_then_frozen_both_replicas_recover(replicas: Make) -> None:
    pair = replicas()
    chat = Chat(pair)
    for _ in range(3):
        assert chat.crosses(chat.alice, chat.bob) and chat.crosses(chat.bob, chat.alice)

    # Stopped: refused connections.
    pair.redis_client().shutdown(save=True)
    down = time.monotonic()
    stopped_answer = chat.refused_during_outage()
    check_degraded(pair)
    time.sleep(max(0.0, down + OUTAGE_SECONDS - time.monotonic()))
    pair.redis.start()
    stopped_recovery = chat.recovered()
    chat.check_nothing_acked_is_lost()

    # Frozen: nothing answers, so only timeouts save the handlers.
    os.kill(pair.redis_pid, signal.SIGSTOP)
    try:
        down = time.monotonic()
        frozen_answer = chat.refused_during_outage()
        assert frozen_answer < 10  # bounded by the store's and the queue's 2 s timeouts
        check_degraded(pair)
        time.sleep(max(0.0, down + OUTAGE_SECONDS - time.monotonic()))
    finally:
        os.kill(pair.redis_pid, signal.SIGCONT)
    frozen_recovery = chat.recovered()
    chat.check_nothing_acked_is_lost()

    for server in (pair.a, pair.b):
        assert metric(server, "livechat_store_errors_total") > 0
        assert metric(server, "livechat_store_up") == 1
        assert metric(server, "livechat_message_queue_up") == 1
        assert metric(server, "livechat_message_queue_reconnects_total") >= 1
    record_figures(
        "redis_outage",
        {
            "stopped_refusal_seconds": round(stopped_answer, 2),
            "stopped_recovery_seconds": round(stopped_recovery, 2),
            "frozen_refusal_seconds": round(frozen_answer, 2),
            "frozen_recovery_seconds": round(frozen_recovery, 2),
            "messages_acked": len(chat.acked),
            "messages_attempted": chat.sent,
        },
    )
