"""A Kafka outage under a live Twitch room: the page says so, nothing is skipped after."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from playwright.sync_api import Browser, expect

from tests.support.clients import RecordingClient
from tests.support.procs import ChatServer, Service

TOPIC = "twitch.chat"


@pytest.fixture(scope="module")
def kafka() -> Iterator[Service]:
    service = Service("kafka", KAFKA_TOPIC=TOPIC).start()
    yield service
    service.remove()


def produce(bootstrap: str, first: int, last: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for n in range(first, last + 1):
        record = {
            "v": 1,
            "type": "message",
            "order": n,
            "streamer": "outage",
            "time": "2026-11-21T20:00:00.000Z",
            "username": "u",
            "message": f"m{n}",
            "id": f"id-{n}",
            "display_name": "U",
            "color": None,
            "badges": {},
            "emotes": [],
            "action": False,
        }
        producer.send(TOPIC, key=b"outage", value=json.dumps(record).encode())
    producer.flush()
    producer.close()


def test_outage_is_shown_and_consumption_resumes(browser: Browser, kafka: Service) -> None:
    bootstrap = f"127.0.0.1:{kafka.port}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    if TOPIC not in admin.list_topics():
        admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
    admin.close()
    produce(bootstrap, 1, 5)
    chat = ChatServer({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "REDIS_URL": ""}).start()
    try:
        page = browser.new_page()
        page.goto(f"{chat.url}/chat?username=watcher&room=%23outage")
        expect(page.locator("#messages li.message")).to_have_count(5)
        expect(page.locator("#live_status")).to_be_hidden()
        client = RecordingClient(chat.url)
        assert client.call("join_room", {"username": "probe", "room": "#outage"})["ok"]

        kafka.stop()
        client.wait_for("live_status", lambda s: s["available"] is False, timeout=30)
        expect(page.locator("#live_status")).to_be_visible(timeout=30_000)
        assert "unreachable" in page.locator("#live_status").inner_text()
        ready = requests.get(chat.internal_url + "/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["failing"] == ["kafka"]
        # What the chart's readiness probe asks: the rest of the chat is still serving.
        ignoring = requests.get(chat.internal_url + "/readyz?ignore=kafka", timeout=5)
        assert ignoring.status_code == 200

        kafka.start()
        client.wait_for("live_status", lambda s: s["available"] is True, timeout=60)
        produce(bootstrap, 6, 10)
        client.wait_for("receive_message", lambda m: m["message"] == "m10", timeout=30)
        live = [m["message"] for m in client.of("receive_message")]
        assert live == [f"m{n}" for n in range(6, 11)], live
        expect(page.locator("#messages li.message .text")).to_have_text(
            [f"m{n}" for n in range(1, 11)], timeout=30_000
        )
        expect(page.locator("#live_status")).to_be_hidden()
        client.close()
    finally:
        chat.stop()
