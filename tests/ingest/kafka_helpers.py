"""Reading records back from a real Kafka broker, for the ingest tests."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer

from tests.support.procs import ROOT as REPO_ROOT


def shared_kafka() -> str:
    """The shared broker .ci/test.sh starts (never stopped by a test)."""
    bootstrap = os.environ.get("LIVECHAT_TEST_KAFKA")
    if not bootstrap:
        raise RuntimeError("LIVECHAT_TEST_KAFKA is not set: run the tests through .ci/test.sh")
    return bootstrap


def unique_topic(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def read_topic(
    bootstrap: str, topic: str, count: int, timeout: float = 60.0
) -> list[tuple[str, dict[str, Any]]]:
    """(key, value) of the first ``count`` records, or fewer if the timeout passes first.

    Reads a little past ``count`` so a test also sees records that should not be there.
    """
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=1000,
    )
    records: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    extra_until: float | None = None
    try:
        while time.monotonic() < deadline:
            for message in consumer:
                records.append((message.key.decode(), json.loads(message.value)))
            if len(records) >= count and extra_until is None:
                extra_until = time.monotonic() + 1.5
            if extra_until is not None and time.monotonic() > extra_until:
                break
    finally:
        consumer.close()
    return records


class PrivateKafka:
    """A single-node KRaft broker of our own on free ports, for tests that stop Kafka."""

    def __init__(self, port: int, controller_port: int, directory: Path) -> None:
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self._env = {
            **os.environ,
            "KAFKA_PORT": str(port),
            "KAFKA_CONTROLLER_PORT": str(controller_port),
            "SERVICES_DIR": str(directory),
        }

    def _services(self, action: str) -> None:
        subprocess.run(
            [str(REPO_ROOT / ".ci" / "services.sh"), action, "kafka"],
            env=self._env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        self._services("start")

    def stop(self) -> None:
        self._services("stop")
