"""The operator's own Prometheus metrics (``livechat_operator_*``), on OPERATOR_METRICS_PORT.

The operator is its own process, so the default registry (with the process_* and python_*
collectors) is its registry. The dashboard's "Operator" row and the alert rules
LivechatOperatorReconcileErrors and LivechatTwitchChannelNotJoined read these.
"""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, disable_created_metrics

from livechat_operator.status import STATES

disable_created_metrics()

OUTCOMES = ("applied", "failed")
ERROR_REASONS = ("spec", "api", "status")

RECONCILES = Counter(
    "livechat_operator_reconciles_total",
    "TwitchChannel reconciliations (children applied), by outcome (applied, failed).",
    ["outcome"],
)
ERRORS = Counter(
    "livechat_operator_errors_total",
    "Operator errors, by reason (spec: a spec it cannot render; api: the API server refused or"
    " failed; status: an ingest's metrics could not be read).",
    ["reason"],
)
CHANNELS = Gauge(
    "livechat_operator_channels",
    "TwitchChannels in the operator's namespace, by state (joined, not_joined, paused, failed,"
    " unknown).",
    ["state"],
)
STATUS_READS = Counter(
    "livechat_operator_status_reads_total",
    "Reads of an ingest's /metrics for a TwitchChannel status, by outcome (ok, failed).",
    ["outcome"],
)
for _outcome in OUTCOMES:
    RECONCILES.labels(_outcome)
for _outcome in ("ok", "failed"):
    STATUS_READS.labels(_outcome)
for _reason in ERROR_REASONS:
    ERRORS.labels(_reason)
for _state in STATES:
    CHANNELS.labels(_state)


class ChannelStates:
    """Each channel's last known state (by uid), summed into the ``channels`` gauge."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_uid: dict[str, str] = {}

    def set(self, uid: str, value: str) -> None:
        with self._lock:
            self._by_uid[uid] = value
            self._publish()

    def forget(self, uid: str) -> None:
        with self._lock:
            self._by_uid.pop(uid, None)
            self._publish()

    def known(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._by_uid)

    def get(self, uid: str) -> str | None:
        with self._lock:
            return self._by_uid.get(uid)

    def _publish(self) -> None:
        for name in STATES:
            CHANNELS.labels(name).set(sum(1 for v in self._by_uid.values() if v == name))
