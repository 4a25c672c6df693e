"""From typed messages to the sink: build each chat event's record, once.

Every chat event is relayed. Only while two connections overlap during a RECONNECT (and for
a short grace period after) is an event whose id was already relayed skipped, since both
connections then carry the same chat.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from ingest.irc.twitch import ClearChat, ClearMsg, PrivMsg, TwitchMessage, UserNotice
from ingest.metrics import IngestMetrics
from ingest.records import RecordBuilder
from ingest.sink import Sink

DEDUP_MEMORY = 50_000
"""Recent event ids remembered for the overlap (a few minutes of a very busy channel)."""
DEDUP_GRACE = 5.0
"""Seconds de-duplication stays on after the old connection closed (its lines may lag)."""


class Relay:
    """Thread-safe: both connections of an overlap call :meth:`handle`."""

    def __init__(self, sink: Sink, metrics: IngestMetrics, builder: RecordBuilder | None = None):
        self._sink = sink
        self._metrics = metrics
        self._builder = builder or RecordBuilder()
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._overlap = False
        self._dedup_until = 0.0

    def set_overlap(self, active: bool) -> None:
        """Called by the IRC client when a RECONNECT overlap starts and ends."""
        with self._lock:
            self._overlap = active
            if not active:
                self._dedup_until = time.monotonic() + DEDUP_GRACE

    def handle(self, _session: object, typed: TwitchMessage, raw_line: str, arrived: float) -> None:
        """Relay ``typed`` if it is a chat event; ``arrived`` is its wall-clock arrival."""
        if not isinstance(typed, PrivMsg | ClearMsg | ClearChat | UserNotice):
            return
        received_monotonic = time.monotonic()
        with self._lock:
            record = self._builder.build(typed, int(arrived * 1000), raw_line)
            key = record.dedup_key
            dedup = self._overlap or received_monotonic < self._dedup_until
            if dedup and key in self._seen:
                self._metrics.duplicates.inc()
                return
            self._seen[key] = None
            if len(self._seen) > DEDUP_MEMORY:
                self._seen.popitem(last=False)
            self._metrics.records.labels(self._metrics.channel, record.type).inc()
            self._metrics.chat_event_seen(arrived)
            self._sink.put(record, received_monotonic)
