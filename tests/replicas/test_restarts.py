"""A replica stopped mid-conversation (SIGTERM, then SIGKILL) and restarted loses nothing.

A writer on replica b keeps talking; a reader on replica a sees part of it, a goes down, and
the reader comes back with ``since`` (the last id it saw): its ``history`` must be exactly the
messages acknowledged while it was away, no gap, no duplicate. The writer pauses only for the
instant of the rejoin itself, so the expected list is fixed while the server answers.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from tests.replicas.pairs import Replicas, Writer, ids, ready, received, record_figures
from tests.support.clients import RecordingClient
from tests.support.procs import wait_until

Make = Callable[..., Replicas]
ROOM = "talk"
PRESENCE_TTL_SECONDS = 15  # the production default: the heal time measured here is the real one


def rejoin(client: RecordingClient, writer: Writer, username: str, since: str) -> list[str]:
    """Join with ``since`` while no send is in flight; return the ids the writer is owed."""
    with writer.paused():
        ack = client.call("join_room", {"username": username, "room": ROOM, "since": since})
        missed = [i for i in writer.acked if i > since]
    assert ack["ok"], ack
    return missed


def check_recovery(client: RecordingClient, missed: list[str], writer: Writer) -> list[str]:
    """History is exactly what was missed; live messages continue right after it."""
    history = client.wait_for("history", lambda d: d["room"] == ROOM)
    assert history["truncated"] is False
    assert ids(history["messages"]) == missed
    writer.wait_acked(len(writer.acked) + 5)
    last = writer.acked[-1]
    wait_until(lambda: last in ids(received(client, ROOM)), 5, "live messages after the rejoin")
    live = ids(received(client, ROOM))
    after_history = [i for i in writer.acked if i > (missed[-1] if missed else "")]
    assert live[: len(after_history)] == after_history[: len(live)]
    assert not set(live) & set(missed)  # nothing delivered twice
    return ids(history["messages"])


@pytest.mark.timeout(120)
def test_sigterm_mid_conversation(replicas: Make) -> None:
    pair = replicas()
    observer = pair.joined(pair.b, ROOM, "olga")
    reader = pair.joined(pair.a, ROOM, "rita")
    writer = Writer(pair.joined(pair.b, ROOM, "will"), ROOM).start()
    try:
        wait_until(lambda: len(received(reader, ROOM)) >= 10, 10, "the reader to see 10 messages")

        started = time.monotonic()
        assert pair.a.stop(signal.SIGTERM) == 0
        exit_seconds = time.monotonic() - started
        assert exit_seconds < 25  # GRACEFUL_TIMEOUT; in practice about a second

        # A graceful stop says goodbye at once: no ghost on the other replica.
        observer.wait_for("leave_room_announcement", lambda d: d["username"] == "rita", timeout=2)
        observer.wait_for("presence", lambda d: d["users"] == ["olga", "will"], timeout=2)
        assert not reader.connected
        seen = ids(received(reader, ROOM))
        assert seen == writer.acked[: len(seen)]  # what it saw before the stop had no gap

        # The client reconnects to the replica still up, with since.
        writer.wait_acked(len(writer.acked) + 10)
        back = pair.client(pair.b)
        missed = rejoin(back, writer, "rita", seen[-1])
        recovered = check_recovery(back, missed, writer)

        # The stopped replica comes back and serves the same room.
        pair.a.start()
        with writer.paused():
            late = pair.joined(pair.a, ROOM, "lena")
            assert ids(late.of("history")[0]["messages"]) == writer.acked[-50:]
        assert ready(pair.a)[0] == 200
    finally:
        writer.stop()
    record_figures(
        "sigterm",
        {
            "exit_seconds": round(exit_seconds, 2),
            "messages_missed": len(missed),
            "messages_recovered": len(recovered),
        },
    )


@pytest.mark.timeout(120)
def test_sigkill_mid_conversation(replicas: Make) -> None:
    # Up to 20 s away at ~18 messages a second: keep more history than the default 50.
    pair = replicas(PRESENCE_TTL_SECONDS=str(PRESENCE_TTL_SECONDS), HISTORY_LIMIT="1000")
    observer = pair.joined(pair.b, ROOM, "olga")
    reader = pair.joined(pair.a, ROOM, "kate")
    writer = Writer(pair.joined(pair.b, ROOM, "will"), ROOM).start()
    try:
        wait_until(lambda: len(received(reader, ROOM)) >= 10, 10, "the reader to see 10 messages")
        observer.clear()
        killed, killed_wall = time.monotonic(), time.time()
        pair.a.kill()  # no goodbye: kate's entry stays until its deadline
        seen = ids(received(reader, ROOM))
        assert seen == writer.acked[: len(seen)]

        # Until then the dead connection holds the name, on every replica.
        entry = pair.redis_client().hget(f"livechat:{{{ROOM}}}:members", "kate")
        name_free_seconds = int(entry.split()[0]) / 1000 - killed_wall
        assert 0 < name_free_seconds <= PRESENCE_TTL_SECONDS
        probe = pair.client(pair.b)
        assert probe.call("join_room", {"username": "kate", "room": ROOM})["code"] == "name_taken"
        probe.close()

        pair.a.start()
        # The surviving replica prunes the ghost and tells its clients: leave, then presence.
        presence = observer.wait_for(
            "presence", lambda d: "kate" not in d["users"], timeout=PRESENCE_TTL_SECONDS + 10
        )
        heal_seconds = time.monotonic() - killed
        assert presence["users"] == ["olga", "will"]
        assert observer.of("leave_room_announcement")[0]["username"] == "kate"
        assert heal_seconds <= PRESENCE_TTL_SECONDS + 1  # entry expiry + one heartbeat

        # The same user reconnects to the restarted replica with since.
        back = pair.client(pair.a)
        missed = rejoin(back, writer, "kate", seen[-1])
        recovered = check_recovery(back, missed, writer)
        observer.wait_for("presence", lambda d: d["users"] == ["kate", "olga", "will"])
    finally:
        writer.stop()
    record_figures(
        "sigkill",
        {
            "name_free_seconds": round(name_free_seconds, 2),
            "presence_heal_seconds": round(heal_seconds, 2),
            "messages_missed": len(missed),
            "messages_recovered": len(recovered),
        },
    )
