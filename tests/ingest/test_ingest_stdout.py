"""The embedded default and the IRC robustness, end to end against the scripted server.

Each test runs ``python -m ingest`` as a subprocess with no KAFKA_BOOTSTRAP_SERVERS, so the
records arrive on its stdout as JSON lines.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_process import IngestProcess

from tests.support.corpora import expected_in_order
from tests.support.fake_twitch import FakeTwitch

pytestmark = pytest.mark.timeout(120)


def synthetic(count: int, start: int = 0, channel: str = "testchan") -> list[str]:
    """PRIVMSG lines with unique ids msg-<n>, as Twitch would send them."""
    return [
        f"@badge-info=;badges=;color=#1E90FF;display-name=User{n};emotes=;id=msg-{n};mod=0;"
        f"room-id=1;subscriber=0;tmi-sent-ts={1700000000000 + n};turbo=0;user-id={n};user-type= "
        f":user{n}!user{n}@user{n}.tmi.twitch.tv PRIVMSG #{channel} :message number {n}"
        for n in range(start, start + count)
    ]


@pytest.fixture
def twitch() -> Iterator[FakeTwitch]:
    with FakeTwitch() as server:
        yield server


def start_ingest(twitch: FakeTwitch, tmp_path: Path, **env: str) -> IngestProcess:
    return IngestProcess(
        {"TWITCH_CHANNEL": "testchan", "IRC_PORT": str(twitch.port), **env}, tmp_path
    )


def test_corpus_to_stdout_and_login_lines(twitch: FakeTwitch, tmp_path: Path, corpus: list[str]):
    ingest = start_ingest(twitch, tmp_path)
    try:
        (client,) = twitch.wait_for_joins(1)
        ingest.wait_ready()
        assert client.received[:3] == [
            "CAP REQ :twitch.tv/tags twitch.tv/commands",
            client.received[1],
            "JOIN #testchan",
        ]
        assert re.fullmatch(r"NICK justinfan\d+", client.received[1])  # anonymous, no PASS
        # Line 27 is Twitch's RECONNECT: played last, since the overlap it starts would
        # (rightly) de-duplicate the ids the corpus repeats.
        reconnect = corpus.index(":tmi.twitch.tv RECONNECT")
        chat = [line for index, line in enumerate(corpus) if index != reconnect]
        twitch.broadcast([*chat, ":tmi.twitch.tv", "@a=b"])  # two malformed lines
        expected = expected_in_order()
        records = ingest.wait_records(len(expected))
        orders = [record.pop("order") for record in records]
        assert records == expected
        assert orders == sorted(set(orders))
        assert ingest.wait_metric("livechat_ingest_irc_lines_malformed_total", 2) == 2
        assert ingest.metric("livechat_ingest_records_total", type="notice") == 19
        assert ingest.metric("livechat_ingest_produce_success_total") == len(expected)
        twitch.broadcast([corpus[reconnect]])
        twitch.wait_for_joins(2)
        ingest.wait_metric("livechat_ingest_irc_reconnects_total", 1, reason="reconnect")
        assert len(ingest.records()) == len(expected)
    finally:
        assert ingest.stop() == 0


def test_answers_ping_and_pings_a_quiet_server(twitch: FakeTwitch, tmp_path: Path) -> None:
    ingest = start_ingest(twitch, tmp_path, IRC_PING_INTERVAL="0.5", IRC_READ_TIMEOUT="3")
    try:
        (client,) = twitch.wait_for_joins(1)
        twitch.ping("keepalive-42")
        deadline = time.monotonic() + 10
        wanted = {"PONG :keepalive-42", "PING :tmi.twitch.tv"}  # ours after 0.5 s of silence
        while not wanted <= set(client.received) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert wanted <= set(client.received)
        assert ingest.metric("livechat_ingest_irc_reconnects_total") == 0
    finally:
        ingest.stop()


def test_reconnect_loses_and_doubles_nothing(twitch: FakeTwitch, tmp_path: Path) -> None:
    ingest = start_ingest(twitch, tmp_path)
    try:
        twitch.wait_for_joins(1)
        ingest.wait_ready()
        twitch.broadcast(synthetic(300), rate=3000)
        (old,) = twitch.reconnect()
        # Twitch keeps the old connection going until the new one is in.
        twitch.broadcast(synthetic(100, start=300), rate=1000)
        twitch.wait_for_joins(2)
        twitch.broadcast(synthetic(300, start=400), rate=3000)  # now on both connections
        old.close()
        twitch.broadcast(synthetic(300, start=700), rate=3000)
        records = ingest.wait_records(1000)
        ids = [record["id"] for record in records]
        assert sorted(ids) == sorted(f"msg-{n}" for n in range(1000))  # none lost, none twice
        assert ingest.metric("livechat_ingest_duplicates_skipped_total") >= 1
        assert ingest.metric("livechat_ingest_irc_reconnects_total", reason="reconnect") == 1
    finally:
        assert ingest.stop() == 0
    assert len(ingest.records()) == 1000


def test_abrupt_drop_and_dead_socket_reconnect(twitch: FakeTwitch, tmp_path: Path) -> None:
    ingest = start_ingest(twitch, tmp_path, IRC_PING_INTERVAL="0.5", IRC_READ_TIMEOUT="1.5")
    try:
        twitch.wait_for_joins(1)
        twitch.broadcast(synthetic(50))
        ingest.wait_records(50)
        twitch.drop()  # the socket dies under the client
        twitch.wait_for_joins(2)
        ingest.wait_ready()
        twitch.broadcast(synthetic(50, start=50))
        ingest.wait_records(100)
        twitch.mute()  # a peer that stops answering: only the read timeout can notice
        ingest.wait_metric("livechat_ingest_irc_reconnects_total", 2, timeout=20, reason="error")
        twitch.mute(False)
        twitch.drop()
        twitch.wait_for_joins(3, timeout=30)
        ingest.wait_ready()
        twitch.broadcast(synthetic(50, start=100))
        records = ingest.wait_records(150)
        assert [r["id"] for r in records] == [f"msg-{n}" for n in range(150)]
    finally:
        assert ingest.stop() == 0


def test_login_failure_exits_non_zero_without_retrying(tmp_path: Path) -> None:
    with FakeTwitch(reject_login=True) as twitch:
        ingest = IngestProcess(
            {
                "TWITCH_CHANNEL": "testchan",
                "IRC_PORT": str(twitch.port),
                "IRC_NICKNAME": "mybot",
                "IRC_AUTH": "oauth:sekrit-token-value",
            },
            tmp_path,
        )
        assert ingest.wait_exit() == 3
        assert len(twitch.clients) == 1  # no retry of a refused token
        assert twitch.clients[0].received[1] == "PASS oauth:sekrit-token-value"
    log = "\n".join(ingest.stderr)
    assert "Login authentication failed" in log
    assert "sekrit" not in log
