"""The ingest's Prometheus metrics, all named ``livechat_ingest_*`` with a ``channel`` label.

One :class:`IngestMetrics` per process, on its own registry (so tests can build several).
docs/operations.md lists them for the dashboard and alerts.
"""

from __future__ import annotations

import time

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# No ``*_created`` timestamp series next to every counter (see app/metrics.py).
disable_created_metrics()

# Label values known in advance start at 0, so an alert's increase() sees the first drop and
# the dashboard shows 0 rather than "no data".
RECORD_TYPES = ("message", "delete", "clear", "notice")
DROP_REASONS = ("rejected", "spool_full", "stdout_error")
RECONNECT_REASONS = ("reconnect", "error")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class IngestMetrics:
    """Counters, gauges and the produce latency histogram of one channel's ingest."""

    def __init__(self, channel: str, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            # The process and Python runtime metrics (process_*, python_*), as the default
            # registry has them.
            registry = CollectorRegistry()
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                registry.register(collector)
        self.registry = registry
        self.channel = channel
        reg, ch = self.registry, ["channel"]
        self.irc_lines = Counter(
            "livechat_ingest_irc_lines_total", "IRC lines read from Twitch.", ch, registry=reg
        ).labels(channel)
        self.irc_malformed = Counter(
            "livechat_ingest_irc_lines_malformed_total",
            "IRC lines skipped because they could not be parsed, by reason.",
            ["channel", "reason"],
            registry=reg,
        )
        self.records = Counter(
            "livechat_ingest_records_total",
            "Records built from chat events, by type (message, delete, clear, notice).",
            ["channel", "type"],
            registry=reg,
        )
        self.duplicates = Counter(
            "livechat_ingest_duplicates_skipped_total",
            "Chat events seen on both connections during a RECONNECT overlap and relayed once.",
            ch,
            registry=reg,
        ).labels(channel)
        self.produce_success = Counter(
            "livechat_ingest_produce_success_total",
            "Records acknowledged by Kafka (or written to stdout in embedded mode).",
            ch,
            registry=reg,
        ).labels(channel)
        self.produce_failures = Counter(
            "livechat_ingest_produce_failures_total",
            "Kafka produce attempts that failed; the records are retried, not lost.",
            ch,
            registry=reg,
        ).labels(channel)
        self.dropped = Counter(
            "livechat_ingest_records_dropped_total",
            "Records lost for good, by reason (spool_full: memory and the spool were full;"
            " rejected: Kafka refused the record; stdout_error: stdout failed in embedded mode).",
            ["channel", "reason"],
            registry=reg,
        )
        self.queue_records = Gauge(
            "livechat_ingest_queue_records",
            "Records waiting in memory for Kafka (not yet handed to the producer).",
            ch,
            registry=reg,
        ).labels(channel)
        self.unacked_records = Gauge(
            "livechat_ingest_unacked_records",
            "Records handed to the Kafka producer and not yet acknowledged.",
            ch,
            registry=reg,
        ).labels(channel)
        self.spool_records = Gauge(
            "livechat_ingest_spool_records",
            "Records on the on-disk spool waiting for Kafka (the spool depth).",
            ch,
            registry=reg,
        ).labels(channel)
        self.spool_bytes = Gauge(
            "livechat_ingest_spool_bytes", "Bytes used by the on-disk spool.", ch, registry=reg
        ).labels(channel)
        self.kafka_up = Gauge(
            "livechat_ingest_kafka_up",
            "1 while the Kafka brokers answer and acknowledge, else 0.",
            ch,
            registry=reg,
        ).labels(channel)
        self.reconnects = Counter(
            "livechat_ingest_irc_reconnects_total",
            "IRC reconnections, by reason (reconnect: Twitch asked; error: the socket failed).",
            ["channel", "reason"],
            registry=reg,
        )
        self.irc_connected = Gauge(
            "livechat_ingest_irc_connected",
            "Open IRC connections (2 while a RECONNECT overlaps the old and the new one).",
            ch,
            registry=reg,
        ).labels(channel)
        self.irc_joined = Gauge(
            "livechat_ingest_irc_joined", "1 while the channel is joined, else 0.", ch, registry=reg
        ).labels(channel)
        self.last_chat_timestamp = Gauge(
            "livechat_ingest_last_chat_message_timestamp_seconds",
            "Unix time of the last chat event read (0 before the first).",
            ch,
            registry=reg,
        ).labels(channel)
        for record_type in RECORD_TYPES:
            self.records.labels(channel, record_type)
        for reason in DROP_REASONS:
            self.dropped.labels(channel, reason)
        for reason in RECONNECT_REASONS:
            self.reconnects.labels(channel, reason)
        self._last_chat = 0.0
        self._started = time.time()
        Gauge(
            "livechat_ingest_last_chat_message_age_seconds",
            "Seconds since the last chat event read (since start before the first one).",
            ch,
            registry=reg,
        ).labels(channel).set_function(self._since_last_chat)
        self.produce_latency = Histogram(
            "livechat_ingest_produce_latency_seconds",
            "From a line's arrival to Kafka's acknowledgement of its record.",
            ch,
            buckets=LATENCY_BUCKETS,
            registry=reg,
        ).labels(channel)

    def chat_event_seen(self, now: float) -> None:
        """Record that a chat event just arrived (for the silence gauges)."""
        self._last_chat = now
        self.last_chat_timestamp.set(now)

    def _since_last_chat(self) -> float:
        return time.time() - (self._last_chat or self._started)
