"""The on-disk spool and the Kafka sink's bounds, in process, against real files and sockets."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from ingest import spool as spool_module
from ingest.config import Settings
from ingest.kafka_sink import KafkaSink
from ingest.metrics import IngestMetrics
from ingest.records import Record
from ingest.spool import Spool
from tests.support.procs import free_port


def record(n: int) -> Record:
    value = json.dumps({"v": 1, "type": "message", "id": f"m{n}"}).encode()
    return Record("chan", value, "message", f"m{n}")


def drain(spool: Spool) -> list[tuple[Record, spool_module.Position]]:
    items = []
    while (item := spool.read()) is not None:
        items.append(item)
    return items


def test_fifo_ack_and_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "SEGMENT_BYTES", 200)  # several segments
    spool = Spool(tmp_path, max_bytes=1 << 20)
    assert spool.append([record(n) for n in range(20)]) == []
    assert spool.records == 20 and len(list(tmp_path.glob("*.spool"))) > 2
    items = drain(spool)
    assert [json.loads(r.value)["id"] for r, _ in items] == [f"m{n}" for n in range(20)]
    for _, position in items[:8]:
        spool.ack(position)
    spool.close()

    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert reopened.records == 12
    rest = drain(reopened)
    assert [json.loads(r.value)["id"] for r, _ in rest] == [f"m{n}" for n in range(8, 20)]
    for _, position in rest:
        reopened.ack(position)
    assert reopened.records == 0 and reopened.size_bytes == 0
    reopened.close()
    assert Spool(tmp_path, max_bytes=1 << 20).records == 0


def test_full_spool_rejects(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=200)
    rejected = spool.append([record(n) for n in range(10)])
    kept = spool.records
    assert 0 < kept < 10 and len(rejected) == 10 - kept
    assert spool.size_bytes <= 200


def test_sink_drops_are_counted_and_logged_when_everything_is_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env(
        {
            "TWITCH_CHANNEL": "chan",
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nobody listens
            "QUEUE_MAX_RECORDS": "10",
            "SPOOL_DIR": str(tmp_path / "spool"),
            "SPOOL_MAX_BYTES": "500",
        }
    )
    metrics = IngestMetrics("chan")
    sink = KafkaSink(settings, metrics)
    sink.start()
    with caplog.at_level(logging.WARNING, logger="ingest.kafka_sink"):
        for n in range(100):
            sink.put(record(n), time.monotonic())
    dropped = metrics.registry.get_sample_value(
        "livechat_ingest_records_dropped_total", {"channel": "chan", "reason": "spool_full"}
    )
    spooled = metrics.registry.get_sample_value(
        "livechat_ingest_spool_records", {"channel": "chan"}
    )
    queued = metrics.registry.get_sample_value("livechat_ingest_queue_records", {"channel": "chan"})
    assert dropped is not None and spooled is not None and queued is not None
    assert dropped + spooled + queued == 100
    assert dropped > 50
    assert sum("memory queue and spool" in r.getMessage() for r in caplog.records) == dropped
    assert sink.ready() == "kafka: unreachable"
    sink.close(timeout=0.5)
