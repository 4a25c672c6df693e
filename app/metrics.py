"""Prometheus metrics of the chat server, all prefixed ``livechat_``.

Labels stay low-cardinality: event names, outcomes and error codes are fixed sets; rooms,
users and message ids never become labels. One gunicorn worker per process means the default
registry (with its process and Python runtime collectors) describes exactly this replica.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# No ``*_created`` timestamp series next to every counter and histogram: they double the series
# count, and Prometheus (before native created-timestamp support) stores them as plain gauges.
disable_created_metrics()

CONNECTED_CLIENTS = Gauge(
    "livechat_connected_clients", "Socket.IO connections currently open on this replica"
)
CONNECTIONS = Counter("livechat_connections_total", "Socket.IO connections accepted")
JOINS = Counter("livechat_joins_total", "Successful room joins")
MESSAGES = Counter(
    "livechat_messages_total",
    "send_message events by outcome: sent (stored and broadcast), rejected (refused with an"
    " error), unavailable (the store could not be reached)",
    ["outcome"],
)
ERRORS = Counter("livechat_errors_total", "error events sent to clients, by code", ["code"])
EVENT_LATENCY = Histogram(
    "livechat_event_duration_seconds",
    "Time to handle one client event, from receipt to the last emit",
    ["event"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ROOMS_CLEANED = Counter("livechat_rooms_cleaned_total", "Idle empty rooms forgotten")
WEBSOCKET_DIRECT_WRITES = Counter(
    "livechat_websocket_direct_writes_total",
    "Packets written straight to a member's WebSocket by app/websocket.py's fast path (the"
    " coalesced flush of broadcasts, or an ack) instead of through the member's queue and"
    " writer",
)
STORE_UP = Gauge("livechat_store_up", "1 when the history/presence store answers, else 0")
STORE_ERRORS = Counter(
    "livechat_store_errors_total", "Store operations that failed (Redis unreachable)"
)

# Live Twitch rooms (the Kafka consumer of each replica)
TWITCH_RECORDS = Counter(
    "livechat_twitch_records_consumed_total",
    "Kafka records applied to the live Twitch rooms, by record type",
    ["type"],
)
TWITCH_BAD_RECORDS = Counter(
    "livechat_twitch_bad_records_total", "Kafka records skipped because they were not v1 records"
)
TWITCH_CONSUMER_ERRORS = Counter(
    "livechat_twitch_consumer_errors_total", "Kafka consumer failures that forced a reconnect"
)
TWITCH_CONSUMER_LAG = Gauge(
    "livechat_twitch_consumer_lag_records", "Records on the topic this replica has not read yet"
)
TWITCH_KAFKA_UP = Gauge(
    "livechat_twitch_kafka_up", "1 while this replica's Kafka consumer reaches the broker"
)
TWITCH_RECORD_TO_EMIT = Histogram(
    "livechat_twitch_record_to_emit_seconds",
    "From the Kafka record's timestamp to its emit to viewers on this replica",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PRESENCE_EXPIRED = Counter(
    "livechat_presence_expired_total",
    "Room members removed because their replica stopped refreshing them (it died without"
    " saying goodbye)",
)
QUEUE_UP = Gauge(
    "livechat_message_queue_up",
    "1 while this replica is subscribed to the Redis message queue (events from other replicas"
    " reach its clients), else 0",
)
QUEUE_RECONNECTS = Counter(
    "livechat_message_queue_reconnects_total",
    "Times the message queue listener lost its Redis subscription (it resubscribes by itself)",
)
QUEUE_PUBLISH_FAILURES = Counter(
    "livechat_message_queue_publish_failures_total",
    "Events that could not be published to other replicas (Redis unreachable); local clients"
    " still got them",
)

# Hostile clients (app/wire.py, docs/security.md)
MALFORMED_INPUT = Counter(
    "livechat_malformed_input_total",
    "Wire input refused before any handler ran, by reason (undecodable packet, binary frame,"
    " oversized or truncated body, too many packets, unexpected packet type, ...)",
    ["reason"],
)
REQUESTS_REFUSED = Counter(
    "livechat_requests_refused_total",
    "Requests refused to protect the server: connection_limit (too many connections from one"
    " address), room_creation_rate (POST /api/rooms too often), cross_origin",
    ["reason"],
)


def readiness_registry(is_ready: Callable[[], bool]) -> CollectorRegistry:
    """``livechat_ready`` for one app, on a registry of its own.

    The gauge asks that app's readiness checks at each scrape, so it belongs to the app, not
    the process: a module-level gauge rebound by every app built would report the last one.
    ``/metrics`` renders this registry before the default one, because the checks it runs also
    refresh ``livechat_store_up``.
    """
    registry = CollectorRegistry(auto_describe=True)
    ready = Gauge(
        "livechat_ready",
        "1 when this replica's /readyz would answer 200 (every dependency answers and it is"
        " not shutting down), else 0; evaluated at each scrape",
        registry=registry,
    )
    ready.set_function(lambda: 1.0 if is_ready() else 0.0)
    return registry
