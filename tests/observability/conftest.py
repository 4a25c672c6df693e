"""One livechat stack under traffic, scraped by a real Prometheus, shared by this folder's tests
(package scope: started once for all of them)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.observability.stack import Prometheus, Stack
from tests.support.procs import wait_until


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    running = Stack()
    try:
        running.start()
        running.run_traffic()
        prometheus = running.prometheus
        assert prometheus is not None

        def scraped_after_traffic() -> bool:
            last = prometheus.query("min(timestamp(up))", time.time())
            return bool(last) and float(last[0]["value"][1]) > running.traffic_end + 1

        # Generous: on a loaded machine (load 20 on 2 cores) Prometheus may lag its 1 s interval.
        wait_until(scraped_after_traffic, 60, "a scrape of both targets after the traffic", 0.2)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
def prometheus(stack: Stack) -> Prometheus:
    assert stack.prometheus is not None
    return stack.prometheus
