"""From an ingest's own ``/metrics`` to a TwitchChannel's status: pure parsing and arithmetic.

The status poller (handlers.py) fetches the text; everything here is deterministic so the unit
tests can feed it scrapes. Lines per second is the increase of ``livechat_ingest_irc_lines_total``
between two reads of the same process (a counter reset means the ingest restarted: no rate for
that interval), as Prometheus' ``rate()`` would compute it over the poll interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

LINES = "livechat_ingest_irc_lines_total"
JOINED = "livechat_ingest_irc_joined"
KAFKA_UP = "livechat_ingest_kafka_up"
LAST_CHAT = "livechat_ingest_last_chat_message_timestamp_seconds"
START = "process_start_time_seconds"

CONDITION_TYPES = ("Ready", "Joined", "KafkaReachable")


class ScrapeError(ValueError):
    """The text is not an ingest's metrics (wrong endpoint, truncated answer)."""


@dataclass(frozen=True)
class Sample:
    """One read of an ingest's metrics, at ``at`` (Unix seconds, the operator's clock)."""

    at: float
    joined: bool
    lines_total: float
    last_message: float
    kafka_up: bool
    started: float


def parse(text: str, at: float) -> Sample:
    """Pick the few series the status needs out of a Prometheus text exposition."""
    values: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in (LINES, JOINED, KAFKA_UP, LAST_CHAT, START):
                    values[sample.name] = values.get(sample.name, 0.0) + sample.value
    except (ValueError, TypeError) as exc:
        raise ScrapeError(f"unparseable metrics: {exc}") from None
    missing = [n for n in (LINES, JOINED, KAFKA_UP, LAST_CHAT) if n not in values]
    if missing:
        raise ScrapeError(f"not an ingest's metrics: no {', '.join(missing)}")
    return Sample(
        at=at,
        joined=values[JOINED] >= 1,
        lines_total=values[LINES],
        last_message=values[LAST_CHAT],
        kafka_up=values[KAFKA_UP] >= 1,
        started=values.get(START, 0.0),
    )


def lines_per_second(previous: Sample | None, current: Sample) -> float | None:
    """The counter's increase per second since ``previous``; None without a usable pair."""
    if previous is None or current.at <= previous.at:
        return None
    if current.started != previous.started or current.lines_total < previous.lines_total:
        return None  # another process (restart) or a counter reset
    return round((current.lines_total - previous.lines_total) / (current.at - previous.at), 3)


def rfc3339(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(kind: str, ok: bool | None, reason: str, message: str) -> dict[str, str]:
    status = "Unknown" if ok is None else ("True" if ok else "False")
    return {"type": kind, "status": status, "reason": reason, "message": message}


def observed(
    previous: Sample | None, current: Sample | None, error: str | None, paused: bool
) -> dict[str, Any]:
    """Status fields and conditions from the latest read (``current``) or why there is none."""
    if paused:
        why = "spec.paused is true: the ingest is scaled to zero"
        return {
            "joined": False,
            "linesPerSecond": 0.0,
            "conditions": [
                condition("Ready", False, "Paused", why),
                condition("Joined", False, "Paused", why),
                condition("KafkaReachable", None, "Paused", why),
            ],
        }
    if current is None:
        why = error or "no metrics read yet"
        return {
            "joined": False,
            "conditions": [
                condition("Ready", False, "MetricsUnreachable", why),
                condition("Joined", None, "MetricsUnreachable", why),
                condition("KafkaReachable", None, "MetricsUnreachable", why),
            ],
        }
    fields: dict[str, Any] = {"joined": current.joined}
    rate = lines_per_second(previous, current)
    if rate is not None:
        fields["linesPerSecond"] = rate
    if current.last_message > 0:
        fields["lastMessageTime"] = rfc3339(current.last_message)
    joined = condition(
        "Joined",
        current.joined,
        "Joined" if current.joined else "NotJoined",
        "the ingest has joined the channel on Twitch IRC"
        if current.joined
        else "the ingest is not in the channel (connecting, or IRC refused the join)",
    )
    kafka = condition(
        "KafkaReachable",
        current.kafka_up,
        "KafkaUp" if current.kafka_up else "KafkaDown",
        "Kafka acknowledges the ingest's records"
        if current.kafka_up
        else "Kafka does not answer: records wait in memory and on the spool",
    )
    ready = current.joined and current.kafka_up
    fields["conditions"] = [
        condition(
            "Ready",
            ready,
            "Relaying" if ready else ("NotJoined" if not current.joined else "KafkaDown"),
            "chat flows from Twitch to Kafka" if ready else "see the Joined and KafkaReachable",
        ),
        joined,
        kafka,
    ]
    return fields


def merge_conditions(
    old: list[dict[str, Any]] | None, new: list[dict[str, str]], now: str, generation: int | None
) -> list[dict[str, Any]]:
    """New conditions, keeping each one's lastTransitionTime while its status stays the same."""
    before = {c.get("type"): c for c in old or [] if isinstance(c, dict)}
    merged = []
    for cond in new:
        prior = before.get(cond["type"])
        since = (
            prior.get("lastTransitionTime", now)
            if prior and prior.get("status") == cond["status"]
            else now
        )
        item: dict[str, Any] = {**cond, "lastTransitionTime": since}
        if generation is not None:
            item["observedGeneration"] = generation
        merged.append(item)
    return merged


def state(paused: bool, failed: bool, current: Sample | None) -> str:
    """The channel's state for the operator's ``livechat_operator_channels`` gauge."""
    if failed:
        return "failed"
    if paused:
        return "paused"
    if current is None:
        return "unknown"
    return "joined" if current.joined else "not_joined"


STATES = ("joined", "not_joined", "paused", "failed", "unknown")
