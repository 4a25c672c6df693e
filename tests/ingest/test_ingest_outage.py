"""Kafka goes away and comes back: every chat message still arrives exactly once, in order.

Uses a private broker on free ports (never the shared one) and small memory bounds so that
the 30 s outage pushes records through the on-disk spool.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from ingest_process import IngestProcess
from kafka_helpers import PrivateKafka, read_topic, shared_kafka, unique_topic
from test_ingest_stdout import synthetic

from tests.support.fake_twitch import FakeTwitch
from tests.support.procs import ROOT as REPO_ROOT
from tests.support.procs import free_port

OUTAGE_SECONDS = 30
MESSAGES = 2000


@pytest.mark.timeout(240)
def test_broker_stopped_30s_while_2000_messages_flow(tmp_path: Path) -> None:
    kafka = PrivateKafka(free_port(), free_port(), tmp_path / "kafka")
    kafka.start()
    try:
        with FakeTwitch() as twitch:
            ingest = IngestProcess(
                {
                    "TWITCH_CHANNEL": "testchan",
                    "IRC_PORT": str(twitch.port),
                    "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
                    "QUEUE_MAX_RECORDS": "200",
                    "KAFKA_MAX_UNACKED": "100",
                },
                tmp_path,
            )
            try:
                twitch.wait_for_joins(1)
                ingest.wait_ready()
                rate = MESSAGES / (OUTAGE_SECONDS + 12)
                feeder = threading.Thread(
                    target=twitch.broadcast, args=(synthetic(MESSAGES),), kwargs={"rate": rate}
                )
                feeder.start()
                time.sleep(4)
                kafka.stop()
                stopped = time.monotonic()
                max_spool, not_ready_seen = 0.0, False
                while time.monotonic() - stopped < OUTAGE_SECONDS:
                    max_spool = max(max_spool, ingest.metric("livechat_ingest_spool_records"))
                    not_ready_seen |= ingest.get("/readyz")[0] == 503
                    time.sleep(0.5)
                kafka_up_during_outage = ingest.metric("livechat_ingest_kafka_up")
                kafka.start()
                feeder.join()
                ingest.wait_metric("livechat_ingest_produce_success_total", MESSAGES, timeout=90)
                counts = {
                    "sent": MESSAGES,
                    "outage_seconds": OUTAGE_SECONDS,
                    "max_spool_records": max_spool,
                    "dropped": ingest.metric("livechat_ingest_records_dropped_total"),
                    "produce_failures": ingest.metric("livechat_ingest_produce_failures_total"),
                    "acknowledged": ingest.metric("livechat_ingest_produce_success_total"),
                }
            finally:
                assert ingest.stop() == 0
        records = read_topic(kafka.bootstrap, "twitch.chat", MESSAGES, timeout=60)
    finally:
        kafka.stop()
    ids = [value["id"] for _, value in records]
    counts["in_topic"] = len(ids)
    counts["duplicates"] = len(ids) - len(set(ids))
    artifacts = REPO_ROOT / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "ingest-outage.json").write_text(json.dumps(counts, indent=2) + "\n")
    print("outage counts:", counts)
    assert not_ready_seen and kafka_up_during_outage == 0
    assert max_spool > 0  # the outage outgrew memory and went through the spool
    assert counts["dropped"] == 0
    assert ids == [f"msg-{n}" for n in range(MESSAGES)]  # exactly once, in order
    orders = [value["order"] for _, value in records]
    assert orders == sorted(set(orders))


@pytest.mark.timeout(120)
def test_sigterm_keeps_unsent_records_in_the_spool_for_the_next_start(tmp_path: Path) -> None:
    """Kafka unreachable from the start: records wait, survive a restart and then arrive."""
    topic = unique_topic("ingest-spool")
    dead_kafka = f"127.0.0.1:{free_port()}"
    with FakeTwitch() as twitch:
        first = IngestProcess(
            {
                "TWITCH_CHANNEL": "testchan",
                "IRC_PORT": str(twitch.port),
                "KAFKA_BOOTSTRAP_SERVERS": dead_kafka,
                "KAFKA_TOPIC": topic,
                "QUEUE_MAX_RECORDS": "40",
            },
            tmp_path,
        )
        try:
            twitch.wait_for_joins(1)
            twitch.broadcast(synthetic(100))
            first.wait_metric("livechat_ingest_records_total", 100)
            assert first.get("/readyz") == (503, "not ready: kafka: unreachable\n")
            assert first.metric("livechat_ingest_spool_records") >= 40
        finally:
            assert first.stop() == 0
        assert any(
            "100 records kept in the spool" in line or "kept in the spool" in line
            for line in first.stderr
        )
        second = IngestProcess(
            {
                "TWITCH_CHANNEL": "testchan",
                "IRC_PORT": str(twitch.port),
                "KAFKA_BOOTSTRAP_SERVERS": shared_kafka(),
                "KAFKA_TOPIC": topic,
            },
            tmp_path,
        )
        try:
            second.wait_metric("livechat_ingest_produce_success_total", 100)
            assert second.metric("livechat_ingest_spool_records") == 0
        finally:
            assert second.stop() == 0
    records = read_topic(shared_kafka(), topic, 100)
    assert [value["id"] for _, value in records] == [f"msg-{n}" for n in range(100)]
