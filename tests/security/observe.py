"""What the hostile-client tests observe of a server: its log, its metrics, the log bound."""

from __future__ import annotations

import math
import re

import requests

from tests.support.procs import ChatServer

#: Production defaults, embedded mode (no Redis, no Kafka).
EMBEDDED = {"REDIS_URL": "", "KAFKA_BOOTSTRAP_SERVERS": ""}


def log_lines(chat: ChatServer) -> list[str]:
    return chat.log_path.read_text(errors="replace").splitlines()


def metric_value(chat: ChatServer, sample: str) -> float:
    """One sample (name with labels, exactly as exposed) from the internal ``/metrics``."""
    text = requests.get(chat.internal_url + "/metrics", timeout=5).text
    found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def malformed_total(chat: ChatServer) -> float:
    text = requests.get(chat.internal_url + "/metrics", timeout=5).text
    return sum(
        float(v) for v in re.findall(r"^livechat_malformed_input_total\{[^}]*\} (\S+)$", text, re.M)
    )


def log_bound(seconds: float) -> int:
    """Most lines a flood lasting ``seconds`` may add: two budgets (app/logbudget.py: ours and
    the libraries') of 10 lines per minute window, a flood touching ceil(seconds/60) + 1
    windows (it may straddle a boundary), plus a few lines of the server's own."""
    windows = math.ceil(seconds / 60) + 1
    return 2 * 10 * windows + 5
