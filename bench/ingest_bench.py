"""Ingest benchmark: lines per second through parse, and through parse + produce into Kafka.

Run with ``python -m bench.ingest_bench`` or ``python -m bench ingest``. It replays
tests/data/twitch-xqcow-5000.txt.gz (5,000 lines of recorded #xqcow chat) in a loop:

1. parse only, in process: raw line to typed message (and to the record's JSON);
2. end to end: a local scripted IRC server feeds a real ``python -m ingest`` process that
   produces into the local Kafka broker (started with .ci/services.sh if it is not up);
   timed from the first line sent to the last record acknowledged;
3. Kafka's own ``kafka-producer-perf-test`` (``ProducerPerformance``) in the same run, with the
   same record count, the real record values as payloads and the same producer settings
   (acks=all, idempotence, gzip, linger 20 ms, 64 KiB batches).

``INGEST_BENCH_LOOPS`` (default 20) sets how many times the 5,000 lines are replayed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench import Row, format_table
from ingest.irc import from_irc, parse
from ingest.irc.twitch import ClearChat, ClearMsg, PrivMsg, UserNotice
from ingest.records import RecordBuilder
from tests.support.corpora import xqcow_lines
from tests.support.fake_twitch import FakeTwitch
from tests.support.procs import free_port

ROOT = Path(__file__).resolve().parents[1]
LOOPS = int(os.environ.get("INGEST_BENCH_LOOPS", "20"))
KAFKA_PORT = int(os.environ.get("KAFKA_PORT", "9092"))


def bench_parse(lines: list[str]) -> tuple[float, float, list[bytes]]:
    """(parse lines/s, parse+record lines/s, the record values of one pass)."""
    total = len(lines) * LOOPS
    start = time.perf_counter()
    for _ in range(LOOPS):
        for line in lines:
            from_irc(parse(line))
    parse_rate = total / (time.perf_counter() - start)
    builder = RecordBuilder()
    values: list[bytes] = []
    start = time.perf_counter()
    for loop in range(LOOPS):
        for line in lines:
            typed = from_irc(parse(line))
            if isinstance(typed, PrivMsg | ClearMsg | ClearChat | UserNotice):
                record = builder.build(typed, 0, line)
                if loop == 0:
                    values.append(record.value)
    record_rate = total / (time.perf_counter() - start)
    return parse_rate, record_rate, values


def ensure_kafka() -> bool:
    """Start the local broker if it is down; True if this run started it."""
    status = subprocess.run(
        [str(ROOT / ".ci/services.sh"), "status", "kafka"], capture_output=True, text=True
    )
    if "up on" in status.stdout:
        return False
    subprocess.run([str(ROOT / ".ci/services.sh"), "start", "kafka"], check=True)
    return True


def metric(port: int, name: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf"^{name}{{[^}}]*}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def bench_end_to_end(lines: list[str], records_per_loop: int, bootstrap: str) -> float:
    """Lines per second from the scripted IRC server through the ingest into Kafka."""
    metrics_port = free_port()
    expected = records_per_loop * LOOPS
    with FakeTwitch() as twitch, tempfile.TemporaryDirectory() as spool:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TWITCH_CHANNEL": "xqcow",
            "IRC_SERVER": "127.0.0.1",
            "IRC_PORT": str(twitch.port),
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPIC": f"bench.ingest.{uuid.uuid4().hex[:8]}",
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(metrics_port),
            "SPOOL_DIR": spool,
            "LOG_LEVEL": "WARNING",
        }
        proc = subprocess.Popen([sys.executable, "-m", "ingest"], cwd=ROOT, env=env)
        try:
            (client,) = twitch.wait_for_joins(1, timeout=60)
            time.sleep(1.0)  # let the producer connect before the clock starts
            start = time.perf_counter()
            for _ in range(LOOPS):
                for i in range(0, len(lines), 250):
                    client.send(*lines[i : i + 250])
            while metric(metrics_port, "livechat_ingest_produce_success_total") < expected:
                if proc.poll() is not None:
                    raise RuntimeError("the ingest exited during the benchmark")
                time.sleep(0.05)
            elapsed = time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(30)
    return len(lines) * LOOPS / elapsed


def bench_kafka_perf(values: list[bytes], count: int, bootstrap: str) -> tuple[float, str]:
    """Kafka's own producer perf test with the same records; (records/s, its summary line)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".payloads", delete=False) as f:
        f.write(b"\n".join(values))
        payloads = f.name
    try:
        result = subprocess.run(
            [
                "java", "-Xmx512m", "-cp", str(ROOT / ".tools/kafka/libs/*"),
                "org.apache.kafka.tools.ProducerPerformance",
                "--topic", f"bench.perf.{uuid.uuid4().hex[:8]}",
                "--num-records", str(count),
                "--payload-file", payloads,
                "--throughput", "-1",
                "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
                "enable.idempotence=true", "compression.type=gzip", "linger.ms=20",
                "batch.size=65536",
            ],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        os.unlink(payloads)
    summary = [line for line in result.stdout.splitlines() if "records sent" in line][-1]
    rate = float(re.search(r"([\d.]+) records/sec", summary).group(1))  # type: ignore[union-attr]
    return rate, summary


def run() -> list[Row]:
    """The benchmark's rows (``python -m bench ingest``); also saved to bench/results/."""
    lines = xqcow_lines()
    parse_rate, record_rate, values = bench_parse(lines)
    started = ensure_kafka()
    bootstrap = f"127.0.0.1:{KAFKA_PORT}"
    try:
        e2e_rate = bench_end_to_end(lines, len(values), bootstrap)
        perf_rate, perf_summary = bench_kafka_perf(values, len(values) * LOOPS, bootstrap)
    finally:
        if started:
            subprocess.run([str(ROOT / ".ci/services.sh"), "stop", "kafka"], check=False)
    size = round(sum(len(v) for v in values) / len(values))
    lines_total, records_total = len(lines) * LOOPS, len(values) * LOOPS
    rows: list[Row] = [
        {"stage": "parse only (line to typed message), in process", "count": lines_total,
         "per second": round(parse_rate), "unit": "lines/s"},
        {"stage": "parse + record JSON, in process", "count": lines_total,
         "per second": round(record_rate), "unit": "lines/s"},
        {"stage": "scripted IRC server -> python -m ingest -> Kafka (acked)",
         "count": lines_total, "per second": round(e2e_rate), "unit": "lines/s"},
        {"stage": f"kafka-producer-perf-test, same {size}-byte records and settings",
         "count": records_total, "per second": round(perf_rate), "unit": "records/s"},
    ]  # fmt: skip
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "ingest.md").write_text(
        f"{format_table(rows)}\n\nkafka-producer-perf-test: {perf_summary.strip()}\n"
    )
    return rows


if __name__ == "__main__":
    print(format_table(run()))
