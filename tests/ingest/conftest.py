"""Fixtures for the ingest tests: the recorded Twitch corpora (tests/data/)."""

from __future__ import annotations

import pytest

from tests.support.corpora import corpus_lines, xqcow_lines


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return corpus_lines()


@pytest.fixture(scope="session")
def xqcow() -> list[str]:
    return xqcow_lines()
