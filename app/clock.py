"""Server time and message ids, in the one format every event and record uses."""

from __future__ import annotations

import time
from datetime import UTC, datetime

#: Digits in a message id: 13 for epoch milliseconds plus 6 for a sequence within that ms.
ID_DIGITS = 19
_SEQ_PER_MS = 1_000_000


def iso_time(epoch_ms: int) -> str:
    """ISO 8601 UTC with milliseconds, e.g. ``2026-11-21T20:15:03.123Z``."""
    seconds, millis = divmod(epoch_ms, 1000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{millis:03d}Z"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def format_id(epoch_ms: int, seq: int) -> str:
    """A fixed-width decimal id, so plain string comparison sorts ids in arrival order."""
    return f"{epoch_ms * _SEQ_PER_MS + seq:0{ID_DIGITS}d}"


def parse_id(message_id: str) -> tuple[int, int]:
    """Inverse of ``format_id``; raises ValueError for anything that is not such an id."""
    if len(message_id) != ID_DIGITS or not (message_id.isascii() and message_id.isdigit()):
        raise ValueError(f"not a message id: {message_id!r}")
    return divmod(int(message_id), _SEQ_PER_MS)


class IdClock:
    """Issues strictly increasing (id, time) pairs in one process, even if the clock steps back."""

    def __init__(self) -> None:
        self._last = (0, -1)

    def next(self) -> tuple[str, str]:
        ms = now_ms()
        last_ms, last_seq = self._last
        self._last = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
        ms, seq = self._last
        return format_id(ms, seq), iso_time(ms)
