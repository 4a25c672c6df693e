"""Fixtures of the replica tests: pairs of chat servers on a private Redis (pairs.py).

The quiet-room pair starts with the first test of this folder (a session fixture) and is
checked by ``test_silence.py``, which sorts last, so its minute of silence passes while the
other tests run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.replicas.pairs import QuietRoom, Replicas


@pytest.fixture
def replicas() -> Iterator[Callable[..., Replicas]]:
    """Factory: ``replicas(**env)`` starts a pair; all are torn down after the test."""
    made: list[Replicas] = []

    def make(**env: str) -> Replicas:
        pair = Replicas(**env)
        made.append(pair)
        return pair

    yield make
    for pair in made:
        pair.close()


@pytest.fixture(scope="session", autouse=True)
def quiet_room() -> Iterator[QuietRoom]:
    """A pair whose Redis channel then carries nothing at all until ``test_silence`` runs."""
    pair = Replicas()
    try:
        alice = pair.joined(pair.a, "quiet", "alice")
        bob = pair.joined(pair.b, "quiet", "bob")
        alice.wait_for("presence", lambda d: d["users"] == ["alice", "bob"])
        yield QuietRoom(pair, alice, bob, time.monotonic())
    finally:
        pair.close()
