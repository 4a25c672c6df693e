"""The livechat Grafana dashboard, as code (grafana-foundation-sdk).

    python .ci/dashboard.py           # regenerate charts/livechat/files/dashboards/livechat.json
    python .ci/dashboard.py --check   # exit 1 when the committed JSON is stale

The chart ships the generated JSON in a ConfigMap carrying the Grafana sidecar label; never edit
the JSON by hand (tests/observability/test_dashboard.py fails when it differs from this file's
output, and checks every query below against a real Prometheus).

Template variables: ``datasource`` (any Prometheus), ``namespace`` (the release's namespace,
as the ServiceMonitor scrape labels it) and ``channel`` (ingest channels, multi-select).
Queries select ``namespace="$namespace"`` everywhere and ``channel=~"$channel"`` on ingest metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "charts" / "livechat" / "files" / "dashboards" / "livechat.json"

DATASOURCE = common.DataSourceRef(type_val="prometheus", uid="${datasource}")
NS = 'namespace="$namespace"'
CH = 'namespace="$namespace", channel=~"$channel"'
RATE = "[$__rate_interval]"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Chart:
    """One time series panel: what it shows, how to read it, its queries."""

    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    width: int = 12
    max_value: float | None = None


def _quantile(q: float, bucket: str, by: str, selector: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({bucket}{{{selector}}}{RATE})))"


CHAT = (
    Chart(
        "Connected clients per replica",
        "Socket.IO connections open on each chat replica (livechat_connected_clients).",
        "short",
        (Query(f"sum by (pod) (livechat_connected_clients{{{NS}}})", "{{pod}}"),),
        width=8,
    ),
    Chart(
        "Ready replicas",
        "Chat replicas whose /readyz would answer 200 (livechat_ready): every dependency"
        " answers and the replica is not shutting down.",
        "short",
        (Query(f"sum(livechat_ready{{{NS}}})", "ready"),),
        width=4,
    ),
    Chart(
        "Messages in / out per second",
        "In: send_message events by outcome (sent, rejected, unavailable). Out: receive_message"
        " broadcasts, i.e. chat messages sent (each broadcast once to its room) and Twitch"
        " messages emitted to live rooms (each replica emits to its own viewers).",
        "ops",
        (
            Query(
                f"sum by (outcome) (rate(livechat_messages_total{{{NS}}}{RATE}))",
                "in: {{outcome}}",
            ),
            Query(
                f'sum(rate(livechat_messages_total{{{NS}, outcome="sent"}}{RATE}))',
                "out: chat broadcasts",
            ),
            Query(
                f'sum(rate(livechat_twitch_records_consumed_total{{{NS}, type="message"}}{RATE}))',
                "out: Twitch messages",
            ),
        ),
    ),
    Chart(
        "Event latency p50 / p99",
        "Time to handle one client event, from receipt to the last emit, by event"
        " (livechat_event_duration_seconds). Alert LivechatEventLatencyHigh: p99 over 500 ms.",
        "s",
        (
            Query(
                _quantile(0.5, "livechat_event_duration_seconds_bucket", "event", NS),
                "p50 {{event}}",
            ),
            Query(
                _quantile(0.99, "livechat_event_duration_seconds_bucket", "event", NS),
                "p99 {{event}}",
            ),
        ),
    ),
    Chart(
        "Errors by code",
        "error events sent to clients per second, by code (see the docs' error codes).",
        "ops",
        (Query(f"sum by (code) (rate(livechat_errors_total{{{NS}}}{RATE}))", "{{code}}"),),
    ),
    Chart(
        "Redis health",
        "1 while a replica reaches Redis: the history/presence store (livechat_store_up) and the"
        " Socket.IO message queue subscription (livechat_message_queue_up). In embedded mode"
        " (no REDIS_URL) there is no queue and its line stays 0.",
        "short",
        (
            Query(f"min by (pod) (livechat_store_up{{{NS}}})", "store {{pod}}"),
            Query(f"min by (pod) (livechat_message_queue_up{{{NS}}})", "queue {{pod}}"),
        ),
        max_value=1,
    ),
    Chart(
        "Redis errors per second",
        "Store operations that failed and events that could not be published to the other"
        " replicas, per replica.",
        "ops",
        (
            Query(
                f"sum by (pod) (rate(livechat_store_errors_total{{{NS}}}{RATE}))",
                "store errors {{pod}}",
            ),
            Query(
                f"sum by (pod) (rate(livechat_message_queue_publish_failures_total{{{NS}}}{RATE}))",
                "publish failures {{pod}}",
            ),
        ),
    ),
)

TWITCH_ROOMS = (
    Chart(
        "Kafka consumer lag",
        "Records on the Twitch topic each chat replica has not read yet"
        " (livechat_twitch_consumer_lag_records). Alert LivechatTwitchConsumerLagGrowing.",
        "short",
        (Query(f"max by (pod) (livechat_twitch_consumer_lag_records{{{NS}}})", "{{pod}}"),),
        width=8,
    ),
    Chart(
        "Twitch record to viewer p99",
        "From a record's Kafka timestamp to its emit to viewers on a replica.",
        "s",
        (
            Query(
                _quantile(0.99, "livechat_twitch_record_to_emit_seconds_bucket", "pod", NS),
                "p99 {{pod}}",
            ),
        ),
        width=8,
    ),
    Chart(
        "Kafka reachable (chat replicas)",
        "1 while a chat replica's Kafka consumer reaches the broker (livechat_twitch_kafka_up).",
        "short",
        (Query(f"min by (pod) (livechat_twitch_kafka_up{{{NS}}})", "{{pod}}"),),
        width=8,
        max_value=1,
    ),
)

INGEST = (
    Chart(
        "Ingest rate per channel",
        "Records built from Twitch chat per second, per channel (livechat_ingest_records_total).",
        "ops",
        (
            Query(
                f"sum by (channel) (rate(livechat_ingest_records_total{{{CH}}}{RATE}))",
                "#{{channel}}",
            ),
        ),
        width=8,
    ),
    Chart(
        "Seconds since last message per channel",
        "Seconds since the ingest last read a chat event (since start before the first)."
        " Alert LivechatIngestSilent above 30 minutes.",
        "s",
        (
            Query(
                f"max by (channel) (livechat_ingest_last_chat_message_age_seconds{{{CH}}})",
                "#{{channel}}",
            ),
        ),
        width=8,
    ),
    Chart(
        "IRC joined / Kafka up",
        "1 while the ingest is joined to its channel (livechat_ingest_irc_joined) and while"
        " Kafka acknowledges its records (livechat_ingest_kafka_up).",
        "short",
        (
            Query(f"min by (channel) (livechat_ingest_irc_joined{{{CH}}})", "joined #{{channel}}"),
            Query(f"min by (channel) (livechat_ingest_kafka_up{{{CH}}})", "kafka #{{channel}}"),
        ),
        width=8,
        max_value=1,
    ),
    Chart(
        "Kafka produce failures and dropped records",
        "Produce attempts that failed per second (retried, not lost) and records dropped for"
        " good, by reason. Alerts LivechatIngestProduceFailures and LivechatIngestRecordsDropped.",
        "ops",
        (
            Query(
                f"sum by (channel) (rate(livechat_ingest_produce_failures_total{{{CH}}}{RATE}))",
                "failures #{{channel}}",
            ),
            Query(
                "sum by (channel, reason)"
                f" (rate(livechat_ingest_records_dropped_total{{{CH}}}{RATE}))",
                "dropped #{{channel}} {{reason}}",
            ),
        ),
        width=8,
    ),
    Chart(
        "Spool depth",
        "Records waiting for Kafka: on the on-disk spool (livechat_ingest_spool_records), in"
        " memory, and handed to the producer but not yet acknowledged.",
        "short",
        (
            Query(
                f"max by (channel) (livechat_ingest_spool_records{{{CH}}})", "spool #{{channel}}"
            ),
            Query(
                f"max by (channel) (livechat_ingest_queue_records{{{CH}}})", "memory #{{channel}}"
            ),
            Query(
                f"max by (channel) (livechat_ingest_unacked_records{{{CH}}})",
                "unacked #{{channel}}",
            ),
        ),
        width=8,
    ),
    Chart(
        "Reconnects",
        "IRC reconnections of the ingest by reason (reconnect: Twitch asked; error: the socket"
        " failed), and the chat replicas' Redis message queue resubscriptions and Kafka consumer"
        " reconnects, per interval.",
        "short",
        (
            Query(
                "sum by (channel, reason)"
                f" (increase(livechat_ingest_irc_reconnects_total{{{CH}}}{RATE}))",
                "irc #{{channel}} {{reason}}",
            ),
            Query(
                f"sum by (pod) (increase(livechat_message_queue_reconnects_total{{{NS}}}{RATE}))",
                "redis queue {{pod}}",
            ),
            Query(
                f"sum by (pod) (increase(livechat_twitch_consumer_errors_total{{{NS}}}{RATE}))",
                "kafka consumer {{pod}}",
            ),
        ),
        width=8,
    ),
    Chart(
        "Produce latency p99",
        "From an IRC line's arrival to Kafka's acknowledgement of its record, per channel.",
        "s",
        (
            Query(
                _quantile(0.99, "livechat_ingest_produce_latency_seconds_bucket", "channel", CH),
                "p99 #{{channel}}",
            ),
        ),
        width=24,
    ),
)

ROWS = (("Chat server", CHAT), ("Live Twitch rooms", TWITCH_ROOMS), ("Twitch ingest", INGEST))


def _panel(chart: Chart, panel_id: int) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(chart.title)
        .description(chart.description)
        .datasource(DATASOURCE)
        .unit(chart.unit)
        .min(0)
        .height(8)
        .span(chart.width)
        .fill_opacity(10)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    )
    if chart.max_value is not None:
        panel = panel.max(chart.max_value)
    for ref, query in zip("ABCDEFGH", chart.queries, strict=False):
        panel = panel.with_target(
            prometheus.Dataquery()
            .expr(query.expr)
            .legend_format(query.legend)
            .ref_id(ref)
            .datasource(DATASOURCE)
        )
    return panel


def _variables() -> list[dash.DatasourceVariable | dash.QueryVariable]:
    return [
        dash.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        dash.QueryVariable("namespace")
        .label("Namespace")
        .datasource(DATASOURCE)
        .query("label_values(livechat_connected_clients, namespace)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC),
        dash.QueryVariable("channel")
        .label("Channel")
        .datasource(DATASOURCE)
        .query('label_values(livechat_ingest_irc_joined{namespace="$namespace"}, channel)')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all")),
    ]


def build() -> dict[str, object]:
    """The dashboard as the JSON object Grafana loads."""
    builder = (
        dash.Dashboard("livechat")
        .uid("livechat")
        .description("Chat replicas, live Twitch rooms and the Twitch ingest of one release.")
        .tags(["livechat"])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
    )
    for variable in _variables():
        builder = builder.with_variable(variable)
    panel_id = 0
    for title, charts in ROWS:
        panel_id += 1
        builder = builder.with_row(dash.Row(title).id(panel_id))
        for chart in charts:
            panel_id += 1
            builder = builder.with_panel(_panel(chart, panel_id))
    encoded: dict[str, object] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return encoded


def render() -> str:
    """The file's exact text: stable key order, two-space indent, final newline."""
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the JSON is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if OUTPUT.read_text() != text:
            print(
                f"{OUTPUT.relative_to(ROOT)} is stale: run python .ci/dashboard.py", file=sys.stderr
            )
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
