"""The operator and a real API server as test processes, for tests/operator and the observability
stack (which scrapes the operator's metrics with the real Prometheus)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import yaml

from tests.deploy.kube import CHART, ROOT
from tests.deploy.kube import render as helm_render
from tests.deploy.test_chart_apiserver import Cluster
from tests.deploy.test_chart_apiserver import api_server as chart_api_server
from tests.support.procs import free_port, wait_until


@contextmanager
def api_server(state: Path, namespace: str) -> Iterator[Cluster]:
    """A private etcd + kube-apiserver (.ci/apiserver.sh) with the TwitchChannel CRD and
    ``namespace`` created; stopped on exit."""
    with chart_api_server(state) as c:
        crd = yaml.safe_load((CHART / "crds" / "twitchchannels.livechat.io.yaml").read_text())
        assert c.create(crd, "").status_code == 201
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        assert c.create(ns, "").status_code == 201
        wait_until(
            lambda: c.request("GET", "/apis/livechat.io/v1alpha1").status_code == 200,
            30,
            "the TwitchChannel API to be served",
        )
        yield c


def operator_release_json(kafka: str, namespace: str) -> str:
    """The operator's release.json exactly as the chart renders it, with an external Kafka."""
    objs = helm_render(
        sets=["kafka.bundled=false", f"kafka.bootstrapServers={kafka}"], namespace=namespace
    )
    (cm,) = [
        o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "chat-operator"
    ]
    return str(cm["data"]["release.json"])


class Operator:
    """``kopf run --standalone --namespace <ns> -m livechat_operator.handlers``, status every
    second, its own metrics on a free loopback port."""

    def __init__(
        self, cluster: Cluster, namespace: str, release_json: str, tmp: Path, ingest_url: str
    ) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        config = tmp / "release.json"
        config.write_text(release_json)
        self.metrics_port = free_port()
        env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            # The test API server's certificate is self-signed (the kubeconfig says so).
            "PYTHONWARNINGS": "ignore:Unverified HTTPS request",
            "OPERATOR_NAMESPACE": namespace,
            "OPERATOR_RELEASE_CONFIG": str(config),
            "OPERATOR_STATUS_INTERVAL": "1",
            "OPERATOR_INGEST_METRICS_URL": ingest_url,
            "OPERATOR_METRICS_HOST": "127.0.0.1",
            "OPERATOR_METRICS_PORT": str(self.metrics_port),
        }
        self.log_path = tmp / "operator.log"
        self._log = self.log_path.open("w")
        kopf = Path(sys.executable).with_name("kopf")
        self.proc = subprocess.Popen(
            [
                str(kopf),
                "run",
                "--standalone",
                f"--namespace={namespace}",
                "-m",
                "livechat_operator.handlers",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def metrics(self) -> str:
        return requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
