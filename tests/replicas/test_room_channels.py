"""A channel per room: replicas subscribe only to rooms they host, first joins miss nothing,
and a replica drops its own echo without decoding it (app/message_queue.py)."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from app.message_queue import RedisMessageQueue
from app.store.redis import room_channel
from tests.replicas.pairs import Replicas, Writer, ids
from tests.support.procs import wait_until

Make = Callable[..., Replicas]


def subscribers(client: redis.Redis, room: str) -> int:
    channel = room_channel(room)
    return int(dict(client.pubsub_numsub(channel))[channel.encode()])


def test_a_replica_subscribes_only_to_the_rooms_it_hosts(replicas: Make) -> None:
    pair = replicas()
    r = pair.redis_client()
    alice = pair.joined(pair.a, "north", "alice")
    assert subscribers(r, "north") == 1  # only a; b hosts nobody there
    assert subscribers(r, "south") == 0
    bob = pair.joined(pair.b, "north", "bob")
    carol = pair.joined(pair.b, "north", "carol")
    assert subscribers(r, "north") == 2  # one subscription per replica, not per member

    ack = alice.call("send_message", {"room": "north", "message": "over the wire"})
    for client in (bob, carol):
        assert client.wait_for("receive_message", lambda d: d["id"] == ack["id"])

    assert bob.call("leave_room", {"room": "north"})["ok"]
    assert subscribers(r, "north") == 2  # carol still holds b's subscription
    carol.close()
    wait_until(lambda: subscribers(r, "north") == 1, 10, "b to unsubscribe after its last member")
    assert alice.call("leave_room", {"room": "north"})["ok"]
    wait_until(lambda: subscribers(r, "north") == 0, 10, "a to unsubscribe")


def test_a_replica_resubscribes_to_its_rooms_after_redis_restarts(replicas: Make) -> None:
    pair = replicas()
    alice = pair.joined(pair.a, "east", "alice")
    bob = pair.joined(pair.b, "east", "bob")
    pair.redis.stop()
    pair.redis.start()
    r = pair.redis_client()
    wait_until(lambda: subscribers(r, "east") == 2, 20, "both replicas to resubscribe")
    ack = alice.call("send_message", {"room": "east", "message": "after the restart"})
    assert ack["ok"], ack
    assert bob.wait_for("receive_message", lambda d: d["id"] == ack["id"], timeout=10)


def test_first_join_waits_for_the_subscription_before_reading_history(replicas: Make) -> None:
    """The subscribe-before-history race, made wide: b's listener is cut off and reconnecting
    (0.5 s) when b's first member of a room joins. The join answers only once b is subscribed,
    so a message sent right after the join's answer reaches the joiner live; without the wait
    it would be published while b hears nothing, and be in neither history nor live."""
    pair = replicas()
    sender = pair.joined(pair.a, "gap", "sender")
    pair.joined(pair.b, "elsewhere", "bystander")  # b's listener runs
    r = pair.redis_client()
    assert r.client_kill_filter(_type="pubsub") >= 2  # both replicas' listeners
    joiner = pair.joined(pair.b, "gap", "joiner")
    ack = sender.call("send_message", {"room": "gap", "message": "right after the join"})
    assert ack["ok"], ack
    assert joiner.wait_for("receive_message", lambda d: d["id"] == ack["id"], timeout=5)


def test_first_join_on_a_replica_misses_no_message_sent_meanwhile(replicas: Make) -> None:
    """Messages flow from a while b's first member joins: every message the sender got
    acknowledged reaches the joiner, in its history or live, in order."""
    pair = replicas(HISTORY_LIMIT="1000")
    for attempt in range(3):
        room = f"race{attempt}"
        sender = pair.joined(pair.a, room, f"sender{attempt}")
        writer = Writer(sender, room, interval=0.0).start()
        writer.wait_acked(5)
        joiner = pair.joined(pair.b, room, f"joiner{attempt}")
        writer.wait_acked(len(writer.acked) + 20)
        writer.stop()
        last = writer.acked[-1]
        joiner.wait_for("receive_message", lambda d, last=last: d["id"] == last, timeout=10)
        history = ids(joiner.of("history")[0]["messages"])
        live = [m["id"] for m in joiner.of("receive_message") if m["room"] == room]
        missing = set(writer.acked) - set(history) - set(live)
        assert not missing, f"attempt {attempt}: {len(missing)} messages in neither"
        assert live == sorted(live)


# -- the listener, in this process -------------------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    import os

    return os.environ["LIVECHAT_TEST_REDIS_URL"]


def test_own_echo_is_dropped_unparsed_and_others_decoded(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    mq = RedisMessageQueue(redis_url, f"livechat-test-{time.monotonic_ns()}")
    mq.server = SimpleNamespace(sleep=time.sleep)  # only used between reconnects
    got: queue.Queue[Any] = queue.Queue()

    def drain() -> None:
        for record in mq._listen():
            got.put(record)

    threading.Thread(target=drain, daemon=True).start()
    wait_until(lambda: mq.listening, 10, "the listener to subscribe")
    publisher = redis.Redis.from_url(redis_url)
    other = b"f" * 32 + b" "
    emit = {"method": "emit", "event": "x", "data": [1], "namespace": "/", "room": None}
    with caplog.at_level(logging.WARNING, logger="app.message_queue"):
        # Not JSON at all: decoding it would log a warning; its prefix says it is our own.
        publisher.publish(mq.channel, mq.origin + b"{not json")
        publisher.publish(mq.channel, mq.origin + json.dumps(emit).encode())
        publisher.publish(mq.channel, other + json.dumps({**emit, "event": "y"}).encode())
        record = got.get(timeout=5)
    assert record["event"] == "y"
    assert got.empty()
    assert not [r for r in caplog.records if "unreadable" in r.getMessage()]

    # A chat message record (as RedisStore.append publishes it) becomes receive_message.
    message = {
        "method": "message",
        "host_id": "f" * 32,
        "room": "lobby",
        "username": "zoe",
        "message": "hi",
    }
    payload = other + json.dumps(message)[:-1].encode() + b', "stream_id": "1700000000000-3"}'
    publisher.publish(mq.channel, payload)
    record = got.get(timeout=5)
    assert record["event"] == "receive_message" and record["room"] == "lobby"
    assert record["data"] == [
        {
            "id": "1700000000000000003",
            "username": "zoe",
            "room": "lobby",
            "message": "hi",
            "time": "2023-11-14T22:13:20.000Z",
        }
    ]
