"""Two replicas on one Redis behave as one chat: events, history and names are shared."""

from __future__ import annotations

from collections.abc import Callable

import requests

from tests.replicas.pairs import Replicas, ids, metric, ready, received

Make = Callable[..., Replicas]


def test_messages_announcements_and_presence_cross_both_ways(replicas: Make) -> None:
    pair = replicas()
    alice = pair.joined(pair.a, "hall", "alice")
    bob = pair.joined(pair.b, "hall", "bob")

    # b's join reaches a's client, and the member list is the same everywhere.
    alice.wait_for("join_room_announcement", lambda d: d["username"] == "bob")
    for client in (alice, bob):
        client.wait_for("presence", lambda d: d["users"] == ["alice", "bob"])

    for sender, text in ((alice, "from a"), (bob, "from b")):
        ack = sender.call("send_message", {"room": "hall", "message": text})
        assert ack["ok"], ack
        for client in (alice, bob):  # the other replica's member and the sender alike
            got = client.wait_for("receive_message", lambda d, t=text: d["message"] == t)
            assert got["id"] == ack["id"] and got["time"] == ack["time"]

    # Every client saw the same messages in the same (id) order.
    assert ids(received(alice, "hall")) == ids(received(bob, "hall"))
    assert ids(received(alice, "hall")) == sorted(ids(received(alice, "hall")))

    assert bob.call("leave_room", {"room": "hall"})["ok"]
    alice.wait_for("leave_room_announcement", lambda d: d["username"] == "bob")
    alice.wait_for("presence", lambda d: d["users"] == ["alice"])
    bob.close()
    assert alice.call("send_message", {"room": "hall", "message": "still here"})["ok"]


def test_history_written_through_one_is_served_by_the_other(replicas: Make) -> None:
    pair = replicas(HISTORY_LIMIT="5")
    writer = pair.joined(pair.a, "logbook", "writer")
    sent = []
    for number in range(3):
        ack = writer.call("send_message", {"room": "logbook", "message": f"m{number}"})
        sent.append(ack["id"])

    served = requests.get(pair.b.url + "/api/rooms/logbook/messages", timeout=5).json()
    assert ids(served["messages"]) == sent
    assert [m["message"] for m in served["messages"]] == ["m0", "m1", "m2"]

    reader = pair.joined(pair.b, "logbook", "reader")
    assert ids(reader.of("history")[0]["messages"]) == sent

    # Replay after an id through the other replica: exactly what came after it.
    late = pair.client(pair.b)
    assert late.call("join_room", {"username": "late", "room": "logbook", "since": sent[0]})["ok"]
    replay = late.wait_for("history")
    assert ids(replay["messages"]) == sent[1:] and replay["truncated"] is False

    # History is capped; a client further behind than the cap is told so and gets the latest.
    for number in range(3, 9):
        sent.append(writer.call("send_message", {"room": "logbook", "message": f"m{number}"})["id"])
    behind = pair.client(pair.a)
    assert behind.call("join_room", {"username": "behind", "room": "logbook", "since": sent[1]})[
        "ok"
    ]
    replay = behind.wait_for("history")
    assert ids(replay["messages"]) == sent[-5:] and replay["truncated"] is True
    # Just inside the cap: no gap, so no flag.
    edge = pair.client(pair.b)
    assert edge.call("join_room", {"username": "edge", "room": "logbook", "since": sent[-6]})["ok"]
    replay = edge.wait_for("history")
    assert ids(replay["messages"]) == sent[-5:] and replay["truncated"] is False


def test_names_are_unique_across_replicas_and_rooms_codes_too(replicas: Make) -> None:
    pair = replicas()
    pair.joined(pair.a, "names", "Carol")
    other = pair.client(pair.b)
    ack = other.call("join_room", {"username": "CAROL", "room": "names"})
    assert ack == {"ok": False, "code": "name_taken", "message": ack["message"]}
    other.wait_for("error", lambda d: d["code"] == "name_taken")
    # The same name is free in another room.
    assert other.call("join_room", {"username": "CAROL", "room": "elsewhere"})["ok"]

    created = [requests.post(s.url + "/api/rooms", timeout=5) for s in (pair.a, pair.b)]
    codes = {response.json()["room"] for response in created}
    assert len(codes) == 2
    stored = pair.redis_client().exists(*(f"livechat:{{{code}}}:reserved" for code in codes))
    assert stored == 2  # reserved in the shared store, so the other replica cannot reuse them


def test_ready_with_redis_and_queue_metrics_exported(replicas: Make) -> None:
    pair = replicas()
    pair.joined(pair.a, "probe", "probe")  # the first connection starts the queue listener
    assert ready(pair.a) == (200, {"status": "ready"})
    assert ready(pair.b) == (200, {"status": "ready"})
    assert metric(pair.a, "livechat_message_queue_up") == 1
    assert metric(pair.a, "livechat_store_up") == 1
    for name in (
        "livechat_message_queue_reconnects_total",
        "livechat_message_queue_publish_failures_total",
        "livechat_presence_expired_total",
        "livechat_store_errors_total",
    ):
        assert metric(pair.b, name) == 0
