"""Twitch chat end to end: scripted IRC server → ingest → Kafka → two chat replicas → Chromium.

Real parts only: the ingest process (`python -m ingest`), the Kafka broker, Redis, two gunicorn
chat replicas and two Chromium pages connected to different replicas.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kafka.admin import KafkaAdminClient, NewTopic
from playwright.sync_api import Browser, Page, expect

from tests.support.clients import RecordingClient
from tests.support.fake_twitch import FakeTwitch
from tests.support.procs import ARTIFACTS, ROOT, ChatServer, free_port

CHANNEL = "e2e_chan"
ROOM = f"#{CHANNEL}"
REDIS_DB = 11


def privmsg(
    text: str, login: str = "ada_l", emotes: str = "", color: str = "#FF4500"
) -> tuple[str, str]:
    """A PRIVMSG line as Twitch sends it, with its message id."""
    msg_id = str(uuid.uuid4())
    tags = (
        f"badge-info=;badges=moderator/1,subscriber/12;color={color};display-name=Ada_L;"
        f"emotes={emotes};id={msg_id};mod=1;room-id=1;tmi-sent-ts={int(time.time() * 1000)};"
        "user-id=2"
    )
    return f"@{tags} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{CHANNEL} :{text}", msg_id


def clearmsg(msg_id: str, login: str = "ada_l") -> str:
    return (
        f"@login={login};room-id=;target-msg-id={msg_id};tmi-sent-ts={int(time.time() * 1000)} "
        f":tmi.twitch.tv CLEARMSG #{CHANNEL} :gone"
    )


@pytest.fixture(scope="module")
def kafka_bootstrap() -> str:
    return os.environ.get("LIVECHAT_TEST_KAFKA", "127.0.0.1:9092")


@pytest.fixture(scope="module")
def topic(kafka_bootstrap: str) -> str:
    name = f"twitch.e2e.{secrets.token_hex(4)}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    admin.close()
    return name


@pytest.fixture(scope="module")
def redis_url() -> str:
    base = os.environ.get("LIVECHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    url = base.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="module")
def twitch() -> Iterator[FakeTwitch]:
    with FakeTwitch() as server:
        yield server


@pytest.fixture(scope="module")
def ingest(
    twitch: FakeTwitch, kafka_bootstrap: str, topic: str
) -> Iterator[subprocess.Popen[bytes]]:
    spool = tempfile.mkdtemp(prefix="spool-")
    env = {
        **os.environ,
        "TWITCH_CHANNEL": CHANNEL,
        "IRC_SERVER": "127.0.0.1",
        "IRC_PORT": str(twitch.port),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC": topic,
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(free_port()),
        "SPOOL_DIR": spool,
    }
    log = Path(tempfile.mkstemp(prefix="ingest-", suffix=".log")[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    twitch.wait_for_joins(1, timeout=30)
    yield proc
    proc.terminate()
    proc.wait(30)


def replica_env(redis_url: str, kafka_bootstrap: str, topic: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC": topic,
    }


def open_room(browser: Browser, server: ChatServer, name: str) -> Page:
    page = browser.new_context(viewport={"width": 1000, "height": 700}).new_page()
    page.add_init_script(
        """
        window.__seen = {};
        new MutationObserver(() => {
          for (const li of document.querySelectorAll('#messages li.message')) {
            const text = li.querySelector('.text').textContent;
            if (!(text in window.__seen)) window.__seen[text] = Date.now();
          }
        }).observe(document, {subtree: true, childList: true});
        """
    )
    page.goto(f"{server.url}/chat?username={name}&room=%23{CHANNEL}")
    expect(page.locator("#connection_status")).to_have_text("connected")
    expect(page.locator("#members li", has_text=name)).to_have_count(1)
    return page


def test_twitch_chat_reaches_both_replicas_once(
    browser: Browser,
    twitch: FakeTwitch,
    ingest: subprocess.Popen[bytes],
    redis_url: str,
    kafka_bootstrap: str,
    topic: str,
) -> None:
    env = replica_env(redis_url, kafka_bootstrap, topic)
    one, two = ChatServer(env).start(), ChatServer(env).start()
    try:
        page_one, page_two = open_room(browser, one, "viewer1"), open_room(browser, two, "viewer2")

        line, kappa_id = privmsg("Kappa hello chat", emotes="25:0-4")
        twitch.broadcast([line])
        for page in (page_one, page_two):
            item = page.locator("#messages li.message", has_text="hello chat")
            expect(item).to_have_count(1)
            expect(item.locator(".who")).to_have_text("Ada_L")
            assert item.locator(".who").evaluate("e => e.style.color") == "rgb(255, 69, 0)"
            emote = item.locator("img.emote")
            expect(emote).to_have_attribute("alt", "Kappa")
            assert "/emoticons/v2/25/" in (emote.get_attribute("src") or "")
            expect(item.locator(".badge")).to_have_count(2)

        action, _ = privmsg("\x01ACTION waves\x01")
        twitch.broadcast([action])
        for page in (page_one, page_two):
            expect(page.locator("#messages li.message.action .text")).to_have_text("waves")

        # Latency from the IRC line leaving the scripted server to the page showing it.
        sent: dict[str, float] = {}
        for i in range(40):
            text = f"latency probe {i}"
            sent[text] = time.time() * 1000
            twitch.broadcast([privmsg(text, login=f"user{i % 7}")[0]])
            time.sleep(0.05)
        latencies: list[float] = []
        for page in (page_one, page_two):
            expect(page.locator("#messages li.message", has_text="latency probe 39")).to_have_count(
                1
            )
            seen = page.evaluate("window.__seen")
            latencies += [seen[t] - sent[t] for t in sent]
            texts = page.locator("#messages li.message .text").all_inner_texts()
            assert len(texts) == len(set(texts)), "a Twitch message was shown twice"
        report_latency(latencies)

        twitch.broadcast([clearmsg(kappa_id)])
        for page in (page_one, page_two):
            expect(page.locator("#messages li.message", has_text="hello chat")).to_have_count(0)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page_one.screenshot(path=str(ARTIFACTS / "twitch-room.png"))

        # Read-only: the page cannot send and a client trying anyway is refused.
        expect(page_one.locator("#message_input")).to_be_disabled()
        client = RecordingClient(one.url)
        assert client.call("join_room", {"username": "pusher", "room": ROOM})["ok"]
        ack = client.call("send_message", {"room": ROOM, "message": "let me in"})
        assert ack["code"] == "read_only"
        client.close()
    finally:
        one.stop()
        two.stop()

    # Restart both replicas: history comes back from Kafka, moderation included.
    one, two = ChatServer(env).start(), ChatServer(env).start()
    try:
        fresh = open_room(browser, two, "late_viewer")
        texts = fresh.locator("#messages li.message .text")
        expect(texts.last).to_have_text("latency probe 39")
        assert "Kappa hello chat" not in texts.all_inner_texts()
        # 42 messages were relayed, one was deleted; HISTORY_LIMIT (50) keeps the rest.
        assert len(texts.all_inner_texts()) == 41
    finally:
        one.stop()
        two.stop()


def report_latency(latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    result = {"samples": len(ordered), "p50_ms": round(p50, 1), "p99_ms": round(p99, 1)}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "twitch-e2e-latency.json").write_text(json.dumps(result))
    print(f"IRC line to browser latency: {result}")
    assert all(latency >= 0 for latency in ordered)
