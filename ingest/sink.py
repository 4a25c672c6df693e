"""Where records go: the protocol every sink meets, and stdout, the embedded default.

The Kafka sink, with its memory queue and spool, is ``ingest.kafka_sink.KafkaSink``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from typing import IO, Protocol

from ingest.metrics import IngestMetrics
from ingest.records import Record

log = logging.getLogger(__name__)


class Sink(Protocol):
    """What the ingest hands records to."""

    def put(self, record: Record, arrived: float) -> None:
        """Accept ``record`` (``arrived`` is the monotonic time its line was read); never blocks."""

    def ready(self) -> str | None:
        """None when records can flow, else why not (for /readyz)."""

    def close(self, timeout: float) -> None:
        """Deliver what is pending within ``timeout`` seconds, keep the rest for later."""


class StdoutSink:
    """The embedded default: one JSON line per record on stdout."""

    def __init__(self, metrics: IngestMetrics, stream: IO[bytes] | None = None) -> None:
        self._metrics = metrics
        self._stream = stream or sys.stdout.buffer
        self._lock = threading.Lock()

    def put(self, record: Record, arrived: float) -> None:
        with self._lock:
            try:
                self._stream.write(record.value + b"\n")
                self._stream.flush()
            except (OSError, ValueError) as exc:
                self._metrics.dropped.labels(self._metrics.channel, "stdout_error").inc()
                log.warning("dropped a %s record: stdout failed: %s", record.type, exc)
                return
        self._metrics.produce_success.inc()
        self._metrics.produce_latency.observe(time.monotonic() - arrived)

    def ready(self) -> str | None:
        return None

    def close(self, timeout: float) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._stream.flush()
