"""The Kafka reader behind the live Twitch rooms: one per replica, in a background greenlet.

Design: every replica assigns itself *all* partitions of the topic (no consumer group, no
committed offsets) and emits each record only to its own connections (``ignore_queue``), not
through the Redis message queue. So each viewer gets each record exactly once from the replica
it is connected to, in partition order, and N replicas cost N reads of the topic, never N².
On start each replica reads back up to ``KAFKA_HISTORY_SCAN`` records per partition to rebuild
history, so history survives a restart of every replica. Positions stay in memory: after a
broker outage the consumer resumes exactly where it stopped.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from app import metrics
from app.twitch.rooms import BadRecord, TwitchRooms

log = logging.getLogger(__name__)

HEALTH_INTERVAL_SECONDS = 3.0
BACKOFF_MAX_SECONDS = 15.0

EmitFn = Callable[[str, str, dict[str, Any]], None]
SleepFn = Callable[[float], None]


class TwitchConsumer:
    """Reads the topic from where history starts and feeds ``TwitchRooms``."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        history_scan: int,
        rooms: TwitchRooms,
        emit: EmitFn,
        sleep: SleepFn = time.sleep,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.history_scan = history_scan
        self.rooms = rooms
        self.emit = emit
        self.sleep = sleep
        self.stopped = False
        self._started_ms = int(time.time() * 1000)

    def check(self) -> None:
        """Readiness: raise while the broker is unreachable."""
        if not self.rooms.available:
            raise ConnectionError("kafka unreachable")

    def run(self) -> None:
        """Forever: connect (with backoff), then poll and apply; never raises."""
        backoff = 0.5
        consumer: KafkaConsumer | None = None
        while not self.stopped:
            try:
                if consumer is None:
                    consumer = self._connect()
                    backoff = 0.5
                self._consume(consumer)
            except Exception as exc:
                self._set_available(False)
                metrics.TWITCH_CONSUMER_ERRORS.inc()
                log.warning("kafka consumer: %s; retrying in %.1f s", exc, backoff)
                self.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
        if consumer is not None:
            consumer.close()

    def _connect(self) -> KafkaConsumer:
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap_servers.split(","),
            client_id=f"livechat-chat-{socket.gethostname()}",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            reconnect_backoff_max_ms=5000,
            request_timeout_ms=10000,
        )
        partitions = consumer.partitions_for_topic(self.topic)
        if not partitions:
            consumer.close()
            raise KafkaError(f"topic {self.topic!r} has no partitions yet")
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        ends = consumer.end_offsets(assigned, timeout_ms=10000)
        begins = consumer.beginning_offsets(assigned, timeout_ms=10000)
        for tp in assigned:
            consumer.seek(tp, max(begins[tp], ends[tp] - self.history_scan))
        log.info("kafka consumer reading %s from %d partitions", self.topic, len(assigned))
        self._set_available(True)
        return consumer

    def _consume(self, consumer: KafkaConsumer) -> None:
        next_health = 0.0
        while not self.stopped:
            batches = consumer.poll(timeout_ms=500, max_records=1000)
            for tp, records in batches.items():
                for record in records:
                    self._apply(tp.partition, record)
            if time.monotonic() >= next_health:
                next_health = time.monotonic() + HEALTH_INTERVAL_SECONDS
                self._health(consumer)

    def _apply(self, partition: int, record: Any) -> None:
        try:
            emits = self.rooms.apply(partition, record.offset, record.value)
        except BadRecord as exc:
            metrics.TWITCH_BAD_RECORDS.inc()
            log.warning("skipping record %d@%d: %s", record.offset, partition, exc)
            return
        for event, room, payload in emits:
            self.emit(event, room, payload)
        metrics.TWITCH_RECORDS.labels(_record_type(emits)).inc()
        if record.timestamp and record.timestamp >= self._started_ms:
            metrics.TWITCH_RECORD_TO_EMIT.observe(max(0.0, time.time() - record.timestamp / 1000))

    def _health(self, consumer: KafkaConsumer) -> None:
        """Probe the broker (end offsets) for readiness, the page banner and the lag gauge."""
        assigned = list(consumer.assignment())
        try:
            ends = consumer.end_offsets(assigned, timeout_ms=2000)
        except Exception as exc:
            log.debug("kafka health probe failed: %s", exc)
            self._set_available(False)
            return
        lag = sum(max(0, ends[tp] - consumer.position(tp)) for tp in assigned)
        metrics.TWITCH_CONSUMER_LAG.set(lag)
        self._set_available(True)

    def _set_available(self, available: bool) -> None:
        metrics.TWITCH_KAFKA_UP.set(1 if available else 0)
        if self.rooms.available == available:
            return
        self.rooms.available = available
        log.log(logging.INFO if available else logging.WARNING, "kafka available: %s", available)
        for room in self.rooms.rooms():
            self.emit("live_status", room, self.rooms.status(room))


def _record_type(emits: list[tuple[str, str, dict[str, Any]]]) -> str:
    event = emits[0][0] if emits else "none"
    return {"receive_message": "message", "message_deleted": "delete", "room_cleared": "clear"}.get(
        event, "other"
    )
