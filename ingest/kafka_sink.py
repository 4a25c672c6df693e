"""The Kafka sink: records to Kafka, with a bounded memory queue and an on-disk spool.

It keeps one logical FIFO, oldest first::

    unacknowledged (handed to the producer) | retry | spool (unread part) | memory

``put`` appends to ``memory``; when memory is full its whole content moves to the spool's
tail, so the spool only ever holds records older than memory's. One sender thread feeds the
producer from the head, with at most ``KAFKA_MAX_UNACKED`` records unacknowledged. The
producer is idempotent (``acks=all``) and never gives up on a record by itself
(``delivery_timeout_ms`` is effectively infinite): while Kafka is down the records it holds
wait, the memory queue fills and spills to disk. So records reach the topic exactly once and
in order; only a producer reset after a fatal error re-sends unacknowledged records (counted in
``livechat_ingest_produce_failures_total``), which can duplicate them. When the spool is full
too, each record that does not fit is dropped, counted and logged.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka import errors as kafka_errors

from ingest.config import Settings
from ingest.metrics import IngestMetrics
from ingest.records import Record
from ingest.spool import Position, Spool

log = logging.getLogger(__name__)

STALL_SECONDS = 10.0
"""Kafka counts as unreachable when a record stays unacknowledged this long."""
PROBE_SECONDS = 5.0
"""How often an idle sink checks that a bootstrap server still accepts connections."""
_NEVER_MS = 2**31 - 1  # kafka-python's delivery timeout: ~24 days, i.e. keep retrying


@dataclass(slots=True)
class _Pending:
    record: Record
    arrived: float
    spool_position: Position | None = None
    sent: float = 0.0
    failed: bool = False


def make_producer(settings: Settings) -> KafkaProducer:
    """The idempotent producer; gzip because kafka-python needs no extra package for it."""
    compression = None if settings.kafka_compression == "none" else settings.kafka_compression
    return KafkaProducer(
        bootstrap_servers=list(settings.kafka_bootstrap_servers),
        client_id=f"livechat-ingest-{settings.channel}",
        enable_idempotence=True,
        acks="all",
        compression_type=compression,
        linger_ms=settings.kafka_linger_ms,
        batch_size=64 * 1024,
        delivery_timeout_ms=_NEVER_MS,
        request_timeout_ms=10_000,
        max_block_ms=2_000,
        bootstrap_timeout_ms=3_000,
        retry_backoff_ms=200,
        reconnect_backoff_ms=100,
        reconnect_backoff_max_ms=2_000,
        max_in_flight_requests_per_connection=5,
    )


class KafkaSink:
    """Records to Kafka in order, through memory and the spool; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        metrics: IngestMetrics,
        producer_factory: Callable[[Settings], Any] = make_producer,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._factory = producer_factory
        self._cond = threading.Condition()
        self._memory: deque[_Pending] = deque()
        self._retry: deque[_Pending] = deque()
        self._unacked: dict[int, _Pending] = {}
        self._seq = 0
        self._spool = Spool(settings.spool_dir, settings.spool_max_bytes)
        self._producer: Any = None
        self._reset_needed = False
        self._draining = False
        self._stopped = False
        self._reachable = False
        self._last_probe = 0.0
        self._servers = ",".join(settings.kafka_bootstrap_servers)
        metrics.kafka_up.set_function(lambda: 1.0 if self._locked_reachable() else 0.0)
        self._thread = threading.Thread(target=self._run, name="kafka-sender", daemon=True)
        if self._spool.records:
            log.info("spool: replaying %d records left by a previous run", self._spool.records)
        self._update_gauges()

    def start(self) -> None:
        self._thread.start()

    # -- called by the ingest -------------------------------------------------------------

    def put(self, record: Record, arrived: float) -> None:
        with self._cond:
            if len(self._memory) >= self._settings.queue_max_records:
                self._spill_memory()
            self._memory.append(_Pending(record, arrived))
            self._metrics.queue_records.set(len(self._memory))
            self._cond.notify_all()

    def ready(self) -> str | None:
        with self._cond:
            return None if self._is_reachable() else "kafka: unreachable"

    def close(self, timeout: float) -> None:
        """Drain within ``timeout``; persist what is left to the spool for the next start."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._draining = True
            self._cond.notify_all()
            while self._backlog() and time.monotonic() < deadline:
                self._cond.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=0)
            except Exception:  # a broken producer must not stop the shutdown
                log.exception("closing the Kafka producer failed")
        with self._cond:
            left = [p for p in (*self._unacked.values(), *self._retry) if p.spool_position is None]
            left.extend(self._memory)
            if left:
                self._to_spool(left)
                log.warning("shutdown: %d records kept in the spool for the next start", len(left))
            self._unacked.clear()
            self._retry.clear()
            self._memory.clear()
            self._spool.close()
            self._update_gauges()

    # -- spill and drop -------------------------------------------------------------------

    def _spill_memory(self) -> None:
        """Move the whole memory queue to the spool's tail (lock held)."""
        in_flight = [p for p in (*self._unacked.values(), *self._retry) if p.spool_position is None]
        if in_flight and not self._spool.has_unread():
            # Records already handed on get spool positions first, so that a shutdown before
            # their acknowledgement replays them ahead of what memory held.
            rejected = self._spool.append([p.record for p in in_flight], already_read=True)
            if not rejected:
                for pending, position in zip(in_flight, self._spool.last_positions, strict=True):
                    pending.spool_position = position
        batch = list(self._memory)
        self._memory.clear()
        self._to_spool(batch)

    def _to_spool(self, batch: list[_Pending]) -> None:
        rejected = self._spool.append([p.record for p in batch])
        for record in rejected:
            self._metrics.dropped.labels(self._metrics.channel, "spool_full").inc()
            log.warning(
                "dropped a %s record for %s: memory queue and spool (%d bytes) are full",
                record.type,
                record.key,
                self._spool.max_bytes,
            )
        self._update_gauges()

    # -- the sender thread ----------------------------------------------------------------

    def _backlog(self) -> bool:
        return bool(self._unacked or self._retry or self._spool.has_unread() or self._memory)

    def _run(self) -> None:
        delay = 0.5
        while True:
            with self._cond:
                if self._stopped:
                    return
                if self._reset_needed and all(p.failed for p in self._unacked.values()):
                    self._reset_producer()
            if self._producer is None:
                if not self._connect():
                    with self._cond:
                        self._cond.wait(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                delay = 0.5
            batch = self._take()
            if batch:
                self._send(batch)
            else:
                self._maybe_probe()

    def _connect(self) -> bool:
        try:
            producer = self._factory(self._settings)
        except Exception as exc:
            self._set_reachable(False)
            log.warning(
                "kafka: cannot connect to %s: %s",
                self._servers,
                exc,
            )
            return False
        with self._cond:
            self._producer = producer
            self._last_probe = time.monotonic()
        self._set_reachable(True)
        log.info("kafka: producer connected to %s", self._servers)
        return True

    def _take(self, limit: int = 500) -> list[tuple[int, _Pending]]:
        """Up to ``limit`` records from the head of the FIFO, or [] after a short wait."""
        with self._cond:
            room = self._settings.kafka_max_unacked - len(self._unacked)
            if room <= 0 or self._reset_needed or not self._has_unsent():
                self._update_gauges()
                self._cond.wait(0.2)
                return []
            batch: list[_Pending] = []
            while len(batch) < min(room, limit):
                if self._retry:
                    batch.append(self._retry.popleft())
                elif self._spool.has_unread():
                    item = self._spool.read()
                    if item is None:
                        break
                    record, position = item
                    batch.append(_Pending(record, time.monotonic(), position))
                elif self._memory:
                    batch.append(self._memory.popleft())
                else:
                    break
            now = time.monotonic()
            numbered = []
            for pending in batch:
                pending.sent = now
                pending.failed = False
                self._seq += 1
                self._unacked[self._seq] = pending
                numbered.append((self._seq, pending))
            self._update_gauges()
            return numbered

    def _has_unsent(self) -> bool:
        return bool(self._retry or self._spool.has_unread() or self._memory)

    def _send(self, batch: list[tuple[int, _Pending]]) -> None:
        topic = self._settings.kafka_topic
        for index, (seq, pending) in enumerate(batch):
            record = pending.record
            try:
                future = self._producer.send(topic, key=record.key.encode(), value=record.value)
            except kafka_errors.MessageSizeTooLargeError as exc:
                with self._cond:
                    self._unacked.pop(seq, None)
                self._drop(pending, "rejected", exc)
                continue
            except Exception as exc:  # no metadata yet (broker down at start), closed producer...
                self._metrics.produce_failures.inc()
                log.warning("kafka: send failed, will retry: %s", exc)
                with self._cond:
                    for later_seq, _ in batch[index:]:
                        self._unacked.pop(later_seq, None)
                    self._retry.extendleft(reversed([p for _, p in batch[index:]]))
                    self._reachable = False
                    self._update_gauges()
                    self._cond.wait(0.5)
                return
            future.add_callback(self._on_ack, seq)
            future.add_errback(self._on_error, seq)

    def _on_ack(self, seq: int, _metadata: Any) -> None:
        with self._cond:
            pending = self._unacked.pop(seq, None)
            if pending is None:
                return
            if pending.spool_position is not None:
                self._spool.ack(pending.spool_position)
            self._metrics.produce_success.inc()
            self._metrics.produce_latency.observe(time.monotonic() - pending.arrived)
            self._reachable = True
            # Wake the sender only when it may be waiting for room, or a drain for the end.
            if self._draining or len(self._unacked) < self._settings.kafka_max_unacked // 2:
                self._cond.notify_all()

    def _on_error(self, seq: int, exc: BaseException) -> None:
        with self._cond:
            pending = self._unacked.get(seq)
            if pending is None:
                return
            self._metrics.produce_failures.inc()
            if isinstance(exc, kafka_errors.MessageSizeTooLargeError):
                del self._unacked[seq]
                self._drop(pending, "rejected", exc)
                return
            log.warning("kafka: produce failed, resetting the producer: %r", exc)
            pending.failed = True
            self._reset_needed = True
            self._cond.notify_all()

    def _reset_producer(self) -> None:
        """After a fatal producer error: re-send every unacknowledged record, in order."""
        producer, self._producer = self._producer, None
        self._retry.extendleft(reversed(list(self._unacked.values())))
        self._unacked.clear()
        self._reset_needed = False
        if producer is not None:
            threading.Thread(target=producer.close, kwargs={"timeout": 0}, daemon=True).start()

    def _drop(self, pending: _Pending, reason: str, exc: BaseException) -> None:
        self._metrics.dropped.labels(self._metrics.channel, reason).inc()
        log.warning("dropped a %s record for %s: %s", pending.record.type, pending.record.key, exc)

    # -- reachability ---------------------------------------------------------------------

    def _is_reachable(self) -> bool:
        if self._producer is None or not self._reachable:
            return False
        oldest = next(iter(self._unacked.values()), None)
        return oldest is None or time.monotonic() - oldest.sent < STALL_SECONDS

    def _locked_reachable(self) -> bool:
        with self._cond:
            return self._is_reachable()

    def _set_reachable(self, value: bool) -> None:
        with self._cond:
            self._reachable = value

    def _maybe_probe(self) -> None:
        """While idle, check now and then that a broker still accepts connections."""
        if time.monotonic() - self._last_probe < PROBE_SECONDS:
            return
        self._last_probe = time.monotonic()
        for server in self._settings.kafka_bootstrap_servers:
            host, _, port = server.rpartition(":")
            try:
                socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
            except OSError:
                continue
            self._set_reachable(True)
            return
        self._set_reachable(False)

    def _update_gauges(self) -> None:
        self._metrics.queue_records.set(len(self._memory))
        self._metrics.unacked_records.set(len(self._unacked) + len(self._retry))
        self._metrics.spool_records.set(self._spool.records)
        self._metrics.spool_bytes.set(self._spool.size_bytes)
