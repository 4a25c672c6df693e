"""Debian's Chromium for Playwright, and what a person does on the chat pages: for the browser
tests and the README's screenshot (.ci/screenshot.py)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.procs import ChatServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def enter(page: Page, server: ChatServer, name: str) -> None:
    """Go through the landing page like a person: type a name, enter the lobby."""
    page.goto(server.url + "/")
    page.fill("#username_input", name)
    page.click("#lobby_button")
    page.wait_for_url("**/chat?*")
    expect(page.locator("#connection_status")).to_have_text("connected")


def send(page: Page, text: str) -> None:
    page.fill("#message_input", text)
    page.press("#message_input", "Enter")
    expect(page.locator("#message_input")).to_have_value("")
