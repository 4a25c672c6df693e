"""The page survives its replica restarting: it reconnects and fills the gap with `since`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.support.clients import RecordingClient
from tests.support.procs import ChatServer, Service


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    service = Service("redis").start()
    yield f"redis://127.0.0.1:{service.port}/0"
    service.remove()


def test_page_recovers_missed_messages_after_its_replica_restarts(
    browser: Browser, redis_url: str
) -> None:
    env = {"REDIS_URL": redis_url, "KAFKA_BOOTSTRAP_SERVERS": ""}
    one, two = ChatServer(env).start(), ChatServer(env).start()
    try:
        page = browser.new_page()
        page.goto(f"{one.url}/chat?username=reader&room=resume")
        expect(page.locator("#connection_status")).to_have_text("connected")
        writer = RecordingClient(two.url)
        assert writer.call("join_room", {"username": "writer", "room": "resume"})["ok"]
        assert writer.call("send_message", {"room": "resume", "message": "before"})["ok"]
        expect(page.locator("#messages li.message .text")).to_have_text(["before"])

        one.stop()  # SIGTERM: the page is disconnected and keeps trying to come back
        expect(page.locator("#connection_status")).not_to_have_text("connected")
        for text in ("while away 1", "while away 2"):
            assert writer.call("send_message", {"room": "resume", "message": text})["ok"]
        one = ChatServer(env, port=one.port).start()

        texts = page.locator("#messages li.message .text")
        expect(texts).to_have_text(["before", "while away 1", "while away 2"], timeout=30_000)
        expect(page.locator("#connection_status")).to_have_text("connected")
        expect(page.locator("#history_notice")).to_be_hidden()
        assert writer.call("send_message", {"room": "resume", "message": "after"})["ok"]
        expect(texts).to_have_text(["before", "while away 1", "while away 2", "after"])
        writer.close()
    finally:
        one.stop()
        two.stop()


def test_page_rejoins_after_its_replica_crashes(browser: Browser, redis_url: str) -> None:
    """SIGKILL: the old connection's name lingers until its presence entry expires."""
    env = {"REDIS_URL": redis_url, "KAFKA_BOOTSTRAP_SERVERS": "", "PRESENCE_TTL_SECONDS": "6"}
    one, two = ChatServer(env).start(), ChatServer(env).start()
    try:
        page = browser.new_page()
        page.goto(f"{one.url}/chat?username=survivor&room=crash")
        expect(page.locator("#connection_status")).to_have_text("connected")
        writer = RecordingClient(two.url)
        assert writer.call("join_room", {"username": "writer", "room": "crash"})["ok"]
        one.kill()
        assert writer.call("send_message", {"room": "crash", "message": "during the crash"})["ok"]
        one = ChatServer(env, port=one.port).start()
        # The page comes back under the same name once the ghost has expired, and catches up.
        expect(page.locator("#messages li.message .text")).to_have_text(
            ["during the crash"], timeout=30_000
        )
        expect(page.locator("#connection_status")).to_have_text("connected")
        expect(page.locator("#chat_error")).to_be_hidden()
        writer.wait_for("presence", lambda p: p["users"] == ["survivor", "writer"], timeout=30)
        writer.close()
    finally:
        one.stop()
        two.stop()
