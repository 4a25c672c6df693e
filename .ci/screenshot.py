"""The README's screenshot of the chat page, taken with headless Chromium through Playwright.

    .venv/bin/python .ci/screenshot.py    # rewrites docs/images/chat-page.png

It starts the chat server exactly as `make run` does (embedded mode, on a free loopback port),
has two people talk in the lobby, and photographs one of their pages. Run it after changing
the page's look; the picture is committed, not built by `make test`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, enter, send  # noqa: E402
from tests.support.procs import ChatServer  # noqa: E402

OUT = ROOT / "docs" / "images" / "chat-page.png"


def main() -> int:
    server = ChatServer(env={"REDIS_URL": "", "KAFKA_BOOTSTRAP_SERVERS": ""}).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = []
            for name in ("ada", "grace"):
                context = browser.new_context(viewport={"width": 1000, "height": 560})
                page = context.new_page()
                enter(page, server, name)
                pages.append(page)
            ada, grace = pages
            send(ada, "Hi Grace! Is the new room ready?")
            send(grace, "Yes: code QZXRTPLM, history and all.")
            send(ada, "Joining. See you there.")
            expect(ada.locator("#messages li.message")).to_have_count(3)
            OUT.parent.mkdir(parents=True, exist_ok=True)
            ada.screenshot(path=str(OUT))
            browser.close()
    finally:
        server.stop()
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
