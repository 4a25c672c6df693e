"""The recorded Twitch traffic in ``tests/data/`` (provenance in its README) and what the
ingest must make of it.

``twitch-irc-lines.expected.json`` sits next to the corpus it describes: per line, the
generic IRC split, selected tag values and the Kafka record value (without ``order``),
written out by hand.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = DATA / "twitch-irc-lines.json"
EXPECTED = DATA / "twitch-irc-lines.expected.json"
XQCOW = DATA / "twitch-xqcow-5000.txt.gz"

Atoms = tuple[str, str | None, tuple[str, ...], str | None]


def corpus_lines() -> list[str]:
    """The 56 raw lines of twitch-irc-lines.json, in file order."""
    data = json.loads(CORPUS.read_text(encoding="utf-8"))
    return [entry["raw"] for entry in data["lines"]]


def xqcow_lines() -> list[str]:
    """The 5,000 consecutive lines of #xqcow chat."""
    with gzip.open(XQCOW, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


@functools.cache
def _expected() -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = json.loads(EXPECTED.read_text(encoding="utf-8"))["lines"]
    assert [line["index"] for line in lines] == list(range(len(lines)))
    return lines


def expected_atoms() -> dict[int, Atoms]:
    """Per line index: (command, source, middle params, trailing)."""
    return {
        e["index"]: (e["command"], e["source"], tuple(e["params"]), e["trailing"])
        for e in _expected()
    }


def expected_tags() -> dict[int, dict[str, str]]:
    """Per line index: selected tag values after unescaping."""
    return {e["index"]: e["tags"] for e in _expected() if "tags" in e}


def expected_records() -> dict[int, dict[str, Any]]:
    """Per line index of a relayed chat event: its record value, without ``order``."""
    return {e["index"]: e["record"] for e in _expected() if e["record"] is not None}


def expected_in_order() -> list[dict[str, Any]]:
    """The records of the whole corpus in line order (what the topic must hold)."""
    records = expected_records()
    return [records[index] for index in sorted(records)]
