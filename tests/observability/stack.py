"""A whole livechat under traffic, scraped by a real Prometheus, for the dashboard and rule tests.

Scripted Twitch IRC server → ``python -m ingest`` → Kafka (the shared test broker, a topic of its
own) → a gunicorn chat server on Redis (the shared test server, a database of its own), with
python-socketio clients chatting; a private Debian Prometheus scrapes the chat server and the
ingest every second and evaluates the chart's alert rules. The scrape adds the ``namespace`` and
``pod`` target labels a ServiceMonitor adds in a cluster, so the dashboard's queries run as they
are, with only their template variables substituted.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis
import requests
import yaml
from kafka.admin import KafkaAdminClient, NewTopic

from tests.operator.process import Operator, api_server, operator_release_json
from tests.support.clients import RecordingClient
from tests.support.fake_twitch import FakeTwitch
from tests.support.procs import ROOT, ChatServer, Service, free_port, wait_until

NAMESPACE = "livechat-test"
CHANNEL = "obs_chan"
ROOM = "obsroom"
REDIS_DB = 14
RULES = ROOT / "charts" / "livechat" / "files" / "alerts.rules.yml"


def privmsg(text: str, login: str = "grace_h") -> str:
    """A PRIVMSG line as Twitch sends it (tags trimmed to what the ingest reads)."""
    tags = (
        f"badges=subscriber/6;color=#1E90FF;display-name=Grace_H;emotes=;id={uuid.uuid4()};"
        f"room-id=1;tmi-sent-ts={int(time.time() * 1000)};user-id=3"
    )
    return f"@{tags} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{CHANNEL} :{text}"


def usernotice() -> str:
    tags = (
        f"badges=;color=;display-name=Lin;emotes=;id={uuid.uuid4()};login=lin;msg-id=sub;"
        f"room-id=1;system-msg=Lin\\ssubscribed.;tmi-sent-ts={int(time.time() * 1000)};user-id=4"
    )
    return f"@{tags} :tmi.twitch.tv USERNOTICE #{CHANNEL} :hi all"


class Ingest:
    """``python -m ingest`` for :data:`CHANNEL`, reading the scripted IRC server."""

    def __init__(self, irc_port: int, kafka: str, topic: str) -> None:
        self.metrics_port = free_port()
        self.log_path = Path(tempfile.mkstemp(prefix="ingest-obs-", suffix=".log")[1])
        env = {
            **os.environ,
            "TWITCH_CHANNEL": CHANNEL,
            "IRC_SERVER": "127.0.0.1",
            "IRC_PORT": str(irc_port),
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "KAFKA_TOPIC": topic,
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(self.metrics_port),
            "SPOOL_DIR": tempfile.mkdtemp(prefix="spool-obs-"),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingest"],
            cwd=ROOT,
            env=env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"ingest exited: {self.log_path.read_text()[-3000:]}")
        try:
            return requests.get(self.url + "/readyz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class Prometheus:
    """A private Debian Prometheus on a free port, scraping the given targets every second."""

    def __init__(self, targets: dict[str, tuple[str, str]]) -> None:
        """``targets``: job name to (host:port, pod label)."""
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {
                    "job_name": job,
                    "static_configs": [
                        {"targets": [address], "labels": {"namespace": NAMESPACE, "pod": pod}}
                    ],
                }
                for job, (address, pod) in targets.items()
            ],
        }
        self.config_path = Path(tempfile.mkstemp(prefix="prometheus-", suffix=".yml")[1])
        self.config_path.write_text(yaml.safe_dump(config))
        self.service = Service("prometheus", PROMETHEUS_CONFIG=str(self.config_path))
        self.url = f"http://127.0.0.1:{self.service.port}"

    def start(self) -> Prometheus:
        self.service.start()
        return self

    def stop(self) -> None:
        self.service.remove()
        self.config_path.unlink(missing_ok=True)

    def api(self, path: str, **params: Any) -> Any:
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        assert body.get("status") == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        data = self.api("query", query=expr, time=at)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        data = self.api("query_range", query=expr, start=start, end=end, step=1)
        result: list[dict[str, Any]] = data["result"]
        return result

    def targets_up(self) -> bool:
        """False too while Prometheus is still starting: it answers 503 until it is ready."""
        if requests.get(f"{self.url}/-/ready", timeout=10).status_code != 200:
            return False
        active = self.api("targets")["activeTargets"]
        return bool(active) and all(target["health"] == "up" for target in active)


class Stack:
    """Everything above, started in order and stopped in reverse."""

    def __init__(self) -> None:
        self.kafka = os.environ.get("LIVECHAT_TEST_KAFKA", "127.0.0.1:9092")
        base = os.environ.get("LIVECHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
        self.redis_url = base.rsplit("/", 1)[0] + f"/{REDIS_DB}"
        self.topic = f"twitch.obs.{secrets.token_hex(4)}"
        self.twitch = FakeTwitch()
        self.chat: ChatServer | None = None
        self.ingest: Ingest | None = None
        self.prometheus: Prometheus | None = None
        # The operator, on a private API server, with a TwitchChannel for CHANNEL whose status it
        # reads from the ingest's metrics: its own metrics are scraped like the others'.
        self._apiserver: Any = None
        self.operator: Operator | None = None
        self.clients: list[RecordingClient] = []
        self.traffic_start = 0.0
        self.traffic_end = 0.0

    def start(self) -> Stack:
        redis.Redis.from_url(self.redis_url).flushdb()
        admin = KafkaAdminClient(bootstrap_servers=self.kafka)
        admin.create_topics([NewTopic(self.topic, num_partitions=1, replication_factor=1)])
        admin.close()
        self.twitch.start()
        self.ingest = Ingest(self.twitch.port, self.kafka, self.topic)
        self.chat = ChatServer(
            env={
                "REDIS_URL": self.redis_url,
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
                "KAFKA_TOPIC": self.topic,
            }
        ).start()
        self.operator = self._start_operator(self.ingest.metrics_port)
        self.prometheus = Prometheus(
            {
                "livechat": (f"127.0.0.1:{self.chat.metrics_port}", "chat-0"),
                "livechat-ingest": (f"127.0.0.1:{self.ingest.metrics_port}", "ingest-obs-chan-0"),
                "livechat-operator": (f"127.0.0.1:{self.operator.metrics_port}", "operator-0"),
            }
        ).start()
        wait_until(self.ingest.ready, 30, "the ingest to be ready (joined, Kafka up)", 0.2)
        wait_until(self.prometheus.targets_up, 60, "Prometheus to scrape every target", 0.2)
        wait_until(self.operator_sees_joined, 30, "the operator to see the channel joined", 0.2)
        return self

    def _start_operator(self, ingest_metrics_port: int) -> Operator:
        state = Path(tempfile.mkdtemp(prefix="operator-obs-"))
        self._apiserver = api_server(state / "apiserver", NAMESPACE)
        cluster = self._apiserver.__enter__()
        channel = {
            "apiVersion": "livechat.io/v1alpha1",
            "kind": "TwitchChannel",
            "metadata": {"name": CHANNEL.replace("_", "-"), "namespace": NAMESPACE},
            "spec": {"login": CHANNEL},
        }
        assert cluster.create(channel, NAMESPACE).status_code == 201
        return Operator(
            cluster,
            NAMESPACE,
            operator_release_json(self.kafka, NAMESPACE),
            state,
            f"http://127.0.0.1:{ingest_metrics_port}/metrics",
        )

    def operator_sees_joined(self) -> bool:
        assert self.operator is not None
        try:
            text = self.operator.metrics()
        except requests.RequestException:
            return False
        return 'livechat_operator_channels{state="joined"} 1.0' in text

    def run_traffic(self, seconds: float = 12.0) -> None:
        """Chat in a user room with some refusals, Twitch chat at 20 lines/s, one RECONNECT."""
        assert self.chat is not None
        self.traffic_start = time.time()
        self.clients = [RecordingClient(self.chat.url) for _ in range(3)]
        for number, client in enumerate(self.clients):
            answer = client.call("join_room", {"username": f"user{number}", "room": ROOM})
            assert answer["ok"], answer
        self.clients[0].call("join_room", {"username": "user0", "room": f"#{CHANNEL}"})
        done = threading.Event()
        twitch_lines = threading.Thread(target=self._twitch_chat, args=(done,), daemon=True)
        twitch_lines.start()
        deadline = time.monotonic() + seconds
        tick = 0
        reconnected = False
        while time.monotonic() < deadline:
            for number, client in enumerate(self.clients):
                client.call("send_message", {"room": ROOM, "message": f"hello {tick} {number}"})
            if tick % 5 == 0:
                self.clients[1].call("send_message", {"room": ROOM, "message": "   "})
                self.clients[2].call("send_message", {"room": "nowhere", "message": "hi"})
            if not reconnected and time.monotonic() > deadline - seconds / 2:
                self._twitch_reconnect()
                reconnected = True
            tick += 1
            time.sleep(0.3)
        done.set()
        twitch_lines.join(5)
        self.traffic_end = time.time()

    def _twitch_chat(self, done: threading.Event) -> None:
        count = 0
        while not done.is_set():
            self.twitch.broadcast([usernotice() if count % 25 == 0 else privmsg(f"line {count}")])
            count += 1
            time.sleep(0.05)

    def _twitch_reconnect(self) -> None:
        """Twitch's RECONNECT: the ingest joins on a new connection, then the old one closes."""
        before = sum(1 for c in self.twitch.clients if c.channels)
        old = self.twitch.reconnect()
        self.twitch.wait_for_joins(before + 1, timeout=15)
        for client in old:
            client.close()

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        if self.prometheus is not None:
            self.prometheus.stop()
        if self.chat is not None:
            self.chat.stop()
        if self.ingest is not None:
            self.ingest.stop()
        if self.operator is not None:
            self.operator.stop()
        if self._apiserver is not None:
            self._apiserver.__exit__(None, None, None)
        self.twitch.stop()
        admin = KafkaAdminClient(bootstrap_servers=self.kafka)
        admin.delete_topics([self.topic])
        admin.close()
