"""The ingest against the shared real Kafka broker: the corpus becomes exactly its records."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ingest_process import IngestProcess
from kafka_helpers import read_topic, shared_kafka, unique_topic

from tests.support.corpora import expected_in_order
from tests.support.fake_twitch import FakeTwitch

pytestmark = pytest.mark.timeout(180)


def test_corpus_lands_in_the_topic_exactly(tmp_path: Path, corpus: list[str]) -> None:
    bootstrap = shared_kafka()
    topic = unique_topic("ingest-corpus")
    with FakeTwitch() as twitch:
        ingest = IngestProcess(
            {
                "TWITCH_CHANNEL": "testchan",
                "IRC_PORT": str(twitch.port),
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "KAFKA_TOPIC": topic,
            },
            tmp_path,
        )
        try:
            twitch.wait_for_joins(1)
            ingest.wait_ready()
            status, body = ingest.get("/readyz")
            assert (status, body) == (200, "ready\n")
            chat = [line for line in corpus if line != ":tmi.twitch.tv RECONNECT"]
            twitch.broadcast(chat)
            expected = expected_in_order()
            ingest.wait_metric("livechat_ingest_produce_success_total", len(expected))
            assert ingest.metric("livechat_ingest_kafka_up") == 1
            assert ingest.metric("livechat_ingest_produce_latency_seconds_count") == len(expected)
        finally:
            assert ingest.stop() == 0
    assert ingest.stdout == []  # records went to Kafka, not stdout
    records = read_topic(bootstrap, topic, len(expected))
    values = [value for _, value in records]
    orders = [value.pop("order") for value in values]
    assert values == expected
    assert [key for key, _ in records] == [value["streamer"] for value in expected]
    assert orders == sorted(set(orders))


def test_readyz_names_what_is_missing(tmp_path: Path) -> None:
    with FakeTwitch() as twitch:
        twitch.mute()  # never answers: the channel is never joined
        ingest = IngestProcess(
            {"TWITCH_CHANNEL": "testchan", "IRC_PORT": str(twitch.port)}, tmp_path
        )
        try:
            status, body = 0, ""
            for _ in range(100):
                try:
                    status, body = ingest.get("/readyz")
                    break
                except OSError:  # not listening yet
                    time.sleep(0.1)
            assert status == 503 and "irc: #testchan not joined" in body
            assert ingest.get("/healthz") == (200, "ok\n")
            _, metrics = ingest.get("/metrics")
            assert "livechat_ingest_irc_joined" in metrics
        finally:
            ingest.stop()
