"""The `helm test` script (charts/livechat/files/smoke_test.py) against a real chat server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.deploy.kube import CHART
from tests.support.procs import ChatServer, free_port

SCRIPT = CHART / "files" / "smoke_test.py"
pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def chat() -> Iterator[ChatServer]:
    server = ChatServer().start()
    try:
        yield server
    finally:
        server.stop()


def _run(url: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), url, "--timeout", str(timeout)],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
    )


def test_round_trip_passes_against_a_running_chat_server(chat: ChatServer) -> None:
    result = _run(chat.url, 30)
    assert result.returncode == 0, result.stderr
    assert "smoke test passed" in result.stdout


def test_fails_clearly_when_nothing_answers() -> None:
    result = _run(f"http://127.0.0.1:{free_port()}", 3)
    assert result.returncode == 1
    assert "livechat smoke test FAILED: cannot connect" in result.stderr
