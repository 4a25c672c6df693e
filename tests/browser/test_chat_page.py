"""Two real browser pages chatting through a real embedded-mode server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import enter, send
from tests.support.procs import ARTIFACTS, ChatServer

XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>'


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    chat = ChatServer(env={"REDIS_URL": "", "KAFKA_BOOTSTRAP_SERVERS": ""}).start()
    yield chat
    chat.stop()


def open_page(browser: Browser, url: str, width: int = 1100) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 760})
    page = context.new_page()
    page.goto(url)
    return page


def test_two_pages_chat_and_html_stays_text(browser: Browser, server: ChatServer) -> None:
    ada = open_page(browser, server.url)
    bob = open_page(browser, server.url, width=390)  # a phone-width screen
    enter(ada, server, "ada")
    enter(bob, server, "bob")
    expect(ada.locator("#members li")).to_have_count(2)
    expect(ada.locator("#messages li.system").last).to_have_text("bob joined")

    send(ada, "hello bob")
    expect(bob.locator("#messages li.message .text").last).to_have_text("hello bob")
    expect(ada.locator("#messages li.message.own .text").last).to_have_text("hello bob")
    send(bob, "hi ada ✨")
    expect(ada.locator("#messages li.message .text").last).to_have_text("hi ada ✨")
    expect(ada.locator("#messages li.message").last).not_to_have_class("message own")

    send(bob, XSS)
    for page in (ada, bob):
        last = page.locator("#messages li.message .text").last
        expect(last).to_have_text(XSS)
        assert last.locator("img, script, b").count() == 0
        assert page.evaluate("window.__pwned === undefined")

    # Colours are stable per name and differ between these two names.
    colour = ada.locator("#messages li.message .who").first.evaluate("e => e.style.color")
    assert colour and colour != ada.locator("#members li").nth(1).evaluate("e => e.style.color")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ada.screenshot(path=str(ARTIFACTS / "chat-page.png"))
    bob.screenshot(path=str(ARTIFACTS / "chat-page-phone.png"))

    bob.click("#leave_button")
    bob.wait_for_url(server.url + "/")
    expect(ada.locator("#messages li.system").last).to_have_text("bob left")
    expect(ada.locator("#members li")).to_have_count(1)


def test_create_room_and_join_by_code(browser: Browser, server: ChatServer) -> None:
    host = open_page(browser, server.url)
    host.fill("#username_input", "host")
    host.click("#create_room_button")
    host.wait_for_url("**/chat?*")
    code = host.locator("#room_name").inner_text()
    assert len(code) == 8 and code.isupper()
    guest = open_page(browser, server.url)
    guest.fill("#username_input", "guest")
    guest.fill("#room_code_input", code)
    guest.click("#join_room_button")
    expect(guest.locator("#room_name")).to_have_text(code)
    expect(guest.locator("#connection_status")).to_have_text("connected")
    send(guest, "found you")
    expect(host.locator("#messages li.message .text").last).to_have_text("found you")
    # A late joiner sees the history.
    late = open_page(browser, f"{server.url}/chat?username=late&room={code}")
    expect(late.locator("#messages li.message .text")).to_have_text(["found you"])
