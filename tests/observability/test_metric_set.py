"""The reviewed metric set, checked on real scrapes of the chat server and the ingest under traffic.

Names carry the ``livechat_`` prefix and a unit suffix, counters end in ``_total``, every metric
has help text, labels stay low-cardinality (never a room, a user or a message id), the process
and Python runtime metrics are there, and docs/operations.md lists every livechat metric.
"""

from __future__ import annotations

import re
from collections import defaultdict

import pytest
import requests
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.observability.stack import Stack
from tests.support.procs import ROOT

ALLOWED_LABELS = {"outcome", "code", "event", "type", "channel", "reason", "state"}
RUNTIME = {
    "process_cpu_seconds",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_start_time_seconds",
    "python_info",
    "python_gc_collections",
}
UNIT_WORDS = ("seconds", "bytes")


@pytest.fixture(scope="module")
def scrapes(stack: Stack) -> dict[str, list[Metric]]:
    assert stack.chat is not None and stack.ingest is not None and stack.operator is not None
    operator = f"http://127.0.0.1:{stack.operator.metrics_port}"
    return {
        component: list(
            text_string_to_metric_families(requests.get(url + "/metrics", timeout=5).text)
        )
        for component, url in (
            ("chat", stack.chat.internal_url),
            ("ingest", stack.ingest.url),
            ("operator", operator),
        )
    }


def exposed_name(family: Metric) -> str:
    return family.name + "_total" if family.type == "counter" else family.name


@pytest.mark.parametrize("component", ["chat", "ingest", "operator"])
def test_names_units_help_and_labels(scrapes: dict[str, list[Metric]], component: str) -> None:
    prefix = {"ingest": "livechat_ingest_", "operator": "livechat_operator_"}.get(
        component, "livechat_"
    )
    ours = [f for f in scrapes[component] if f.name.startswith("livechat_")]
    assert len(ours) >= (4 if component == "operator" else 15)
    for family in scrapes[component]:
        name = exposed_name(family)
        assert family.documentation.strip(), f"{name} has no help text"
        assert name.startswith((prefix, "process_", "python_")), name
        if component == "chat":
            assert not name.startswith(("livechat_ingest_", "livechat_operator_")), name
        samples = [s.name for s in family.samples]
        assert not any(s.endswith("_created") for s in samples), f"{name} exposes _created"
        if family.type == "counter":
            assert set(samples) <= {name}, samples
        if family.type == "histogram":
            assert name.endswith("_seconds"), f"histogram {name} without a unit suffix"
        for word in UNIT_WORDS:
            if word in name.split("_") and name.startswith("livechat_"):
                assert name.removesuffix("_total").endswith("_" + word), f"{name}: unit not last"
        if not name.startswith("livechat_"):
            continue
        series: dict[str, set[str]] = defaultdict(set)
        for sample in family.samples:
            for label, value in sample.labels.items():
                if label != "le":
                    series[label].add(value)
        assert set(series) <= ALLOWED_LABELS, f"{name} has labels {sorted(series)}"
        for label, values in series.items():
            assert len(values) <= 20, f"{name}{{{label}}} has {len(values)} values"


@pytest.mark.parametrize("component", ["chat", "ingest", "operator"])
def test_process_and_runtime_metrics_kept(scrapes: dict[str, list[Metric]], component: str) -> None:
    names = {f.name for f in scrapes[component]}
    assert names >= RUNTIME, sorted(RUNTIME - names)


def test_docs_list_every_metric(scrapes: dict[str, list[Metric]]) -> None:
    page = (ROOT / "docs" / "operations.md").read_text()
    tables = page.split("## Chat server metrics", 1)[1].split("## Grafana dashboard", 1)[0]
    listed = set(re.findall(r"^\| `(livechat_[a-z0-9_]*[a-z0-9])`", tables, re.M))
    exposed = {
        exposed_name(family)
        for families in scrapes.values()
        for family in families
        if family.name.startswith("livechat_")
    }
    assert not exposed - listed, f"not in docs/operations.md: {sorted(exposed - listed)}"
    assert not listed - exposed, f"documented but not exposed: {sorted(listed - exposed)}"
