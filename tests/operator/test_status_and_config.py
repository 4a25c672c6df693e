"""The operator's status arithmetic on real ingest metrics, and its settings' validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from ingest.metrics import IngestMetrics
from livechat_operator import status
from livechat_operator.config import ConfigError, OperatorSettings
from tests.operator.test_render import RELEASE_DOC


def scrape(lines: int, joined: bool, kafka: bool, last: float) -> str:
    """The text a real ingest's registry exposes with these values."""
    m = IngestMetrics("somechannel")
    m.irc_lines.inc(lines)
    m.irc_joined.set(1 if joined else 0)
    m.kafka_up.set(1 if kafka else 0)
    if last:
        m.chat_event_seen(last)
    return generate_latest(m.registry).decode()


def test_rate_joined_and_last_message_from_two_reads() -> None:
    first = status.parse(scrape(100, True, True, 1_700_000_000.0), at=1000.0)
    second = status.parse(scrape(130, True, True, 1_700_000_010.0), at=1010.0)
    assert first.started == second.started > 0, "the same process"
    assert status.lines_per_second(first, second) == 3.0
    fields = status.observed(first, second, None, paused=False)
    assert fields["joined"] is True and fields["linesPerSecond"] == 3.0
    assert fields["lastMessageTime"] == "2023-11-14T22:13:30Z"
    assert {c["type"]: c["status"] for c in fields["conditions"]} == {
        "Ready": "True",
        "Joined": "True",
        "KafkaReachable": "True",
    }


def test_no_rate_across_a_restart_or_from_a_single_read() -> None:
    a = status.Sample(at=1, joined=True, lines_total=50, last_message=0, kafka_up=True, started=1)
    b = status.Sample(at=2, joined=True, lines_total=10, last_message=0, kafka_up=True, started=2)
    assert status.lines_per_second(a, b) is None
    assert status.lines_per_second(None, b) is None
    assert "linesPerSecond" not in status.observed(None, b, None, paused=False)


def test_conditions_say_why() -> None:
    down = status.parse(scrape(1, True, False, 0), at=1)
    reasons = {
        c["type"]: c["reason"] for c in status.observed(None, down, None, False)["conditions"]
    }
    assert reasons == {"Ready": "KafkaDown", "Joined": "Joined", "KafkaReachable": "KafkaDown"}
    lost = status.observed(None, None, "ingest metrics: connection refused", paused=False)
    assert lost["conditions"][0]["reason"] == "MetricsUnreachable"
    assert "connection refused" in lost["conditions"][0]["message"]
    assert status.observed(None, None, None, paused=True)["conditions"][0]["reason"] == "Paused"


def test_transition_time_kept_while_the_status_holds() -> None:
    new = [status.condition("Joined", True, "Joined", "in")]
    old = [{"type": "Joined", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    kept = status.merge_conditions(old, new, "2026-02-02T00:00:00Z", 3)
    assert (
        kept[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
        and kept[0]["observedGeneration"] == 3
    )
    flipped = status.merge_conditions(
        old, [status.condition("Joined", False, "NotJoined", "out")], "T", None
    )
    assert flipped[0]["lastTransitionTime"] == "T"


@pytest.mark.parametrize("text", ["", "garbage {{{", "# HELP x y\nx 1\n"])
def test_not_an_ingest_is_a_scrape_error(text: str) -> None:
    with pytest.raises(status.ScrapeError):
        status.parse(text, at=1)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    path = tmp_path / "release.json"
    path.write_text(json.dumps(RELEASE_DOC))
    return {"OPERATOR_NAMESPACE": "livechat", "OPERATOR_RELEASE_CONFIG": str(path), **extra}


def test_settings_defaults(tmp_path: Path) -> None:
    s = OperatorSettings.from_env(_env(tmp_path))
    assert (s.status_interval, s.metrics_port) == (15.0, 9103)
    assert s.ingest_metrics_url == "http://{pod_ip}:{port}/metrics"
    assert s.release.fullname == "chat"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"OPERATOR_NAMESPACE": ""}, "OPERATOR_NAMESPACE is required"),
        ({"OPERATOR_NAMESPACE": "Bad_NS"}, "OPERATOR_NAMESPACE must be"),
        (
            {"OPERATOR_RELEASE_CONFIG": "/nonexistent.json"},
            "OPERATOR_RELEASE_CONFIG '/nonexistent.json' cannot be read",
        ),
        ({"OPERATOR_STATUS_INTERVAL": "0"}, "OPERATOR_STATUS_INTERVAL must be between"),
        ({"OPERATOR_STATUS_INTERVAL": "soon"}, "OPERATOR_STATUS_INTERVAL must be a number"),
        (
            {"OPERATOR_INGEST_METRICS_URL": "ftp://x"},
            "OPERATOR_INGEST_METRICS_URL must be an http(s) URL",
        ),
        ({"OPERATOR_INGEST_METRICS_URL": "http://{host}/m"}, "unknown placeholders ['host']"),
        ({"OPERATOR_METRICS_PORT": "70000"}, "OPERATOR_METRICS_PORT must be a port"),
    ],
)
def test_bad_settings_fail_with_one_line_naming_them(
    tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        OperatorSettings.from_env(_env(tmp_path, **extra))
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fullname": "Bad Name"}, "fullname must be a DNS label"),
        ({"metricsPort": "9102"}, "metricsPort is missing or not a integer"),
        (
            {"automountServiceAccountToken": 0},
            "automountServiceAccountToken is missing or not a boolean",
        ),
        ({"labels": {"a": 1}}, "labels values must be strings"),
        ({"spool": {"mountPath": "/x"}}, "spool.maxBytes"),
    ],
)
def test_a_bad_release_config_is_named(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = tmp_path / "release.json"
    path.write_text(json.dumps({**RELEASE_DOC, **change}))
    env = {"OPERATOR_NAMESPACE": "livechat", "OPERATOR_RELEASE_CONFIG": str(path)}
    with pytest.raises(ConfigError) as caught:
        OperatorSettings.from_env(env)
    assert message in str(caught.value)
