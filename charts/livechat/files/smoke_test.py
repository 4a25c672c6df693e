"""`helm test` for livechat: connect to the chat Service, join a room, send and receive a message.

Runs in the livechat image (python-socketio's client is a runtime dependency there) and is
mounted from a ConfigMap, so it needs nothing but the standard library and python-socketio.
Exit status 0 when the message came back to its sender, 1 with one line saying what failed.

    python smoke_test.py http://chat-app:80 [--timeout 60]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import threading
import time

import socketio  # type: ignore[import-untyped]


def run(url: str, timeout: float) -> str | None:
    """Do the round trip; return None on success, else what went wrong."""
    room = f"helm-test-{secrets.token_hex(4)}"
    text = f"smoke {secrets.token_hex(8)}"
    joined = threading.Event()
    received = threading.Event()
    errors: list[str] = []
    client = socketio.Client(reconnection=False)

    @client.on("history")
    def on_history(data: dict[str, object]) -> None:
        if data.get("room") == room:
            joined.set()

    @client.on("receive_message")
    def on_message(data: dict[str, object]) -> None:
        if data.get("room") == room and data.get("message") == text:
            received.set()

    @client.on("error")
    def on_error(data: object) -> None:
        errors.append(repr(data))

    deadline = time.monotonic() + timeout
    while True:  # the Service may not route yet right after an install or upgrade
        try:
            client.connect(url, transports=["websocket"], wait_timeout=10)
            break
        except socketio.exceptions.ConnectionError as exc:
            if time.monotonic() > deadline:
                return f"cannot connect to {url}: {exc}"
            time.sleep(2)
    try:
        client.emit("join_room", {"username": f"helm-{secrets.token_hex(3)}", "room": room})
        if not joined.wait(max(deadline - time.monotonic(), 1)):
            return f"no history after joining {room}; server errors: {errors}"
        client.emit("send_message", {"room": room, "message": text})
        if not received.wait(max(deadline - time.monotonic(), 1)):
            return f"message not received back in {room}; server errors: {errors}"
        return None
    finally:
        client.disconnect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="base URL of the chat server, e.g. http://chat-app:80")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for the whole test")
    args = parser.parse_args(argv)
    problem = run(args.url, args.timeout)
    if problem:
        print(f"livechat smoke test FAILED: {problem}", file=sys.stderr)
        return 1
    print(f"livechat smoke test passed against {args.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
