"""Shared fixtures for the ingest tests: the real Twitch corpora and free ports.

The corpora live next to the repository in ``../shared/data`` (see its README); set
``LIVECHAT_SHARED_DATA`` to read them from elsewhere.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("LIVECHAT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def corpus_lines() -> list[str]:
    """The 56 raw lines of twitch-irc-lines.json, in file order."""
    data = json.loads((SHARED_DATA / "twitch-irc-lines.json").read_text(encoding="utf-8"))
    return [entry["raw"] for entry in data["lines"]]


def xqcow_lines() -> list[str]:
    """The 5,000 consecutive lines of #xqcow chat."""
    with gzip.open(SHARED_DATA / "twitch-xqcow-5000.txt.gz", "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return corpus_lines()


@pytest.fixture(scope="session")
def xqcow() -> list[str]:
    return xqcow_lines()
