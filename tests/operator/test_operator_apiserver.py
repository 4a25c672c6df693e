"""The operator as a real process (``kopf run --standalone``) against a real kube-apiserver, with
a real ingest on the host reading a scripted Twitch IRC server and producing to the test Kafka.

The API server (.ci/apiserver.sh: etcd + kube-apiserver, no kubelet, no controllers) stores what
the operator writes, so this checks the children it applies (against the chart's own rendering),
their ownerReferences, the Events, the status it patches and the CRD's schema. Pods never run
here: the ingest runs as a host process from the ConfigMap the operator wrote, and the operator
reads its metrics through OPERATOR_INGEST_METRICS_URL, the setting that points it at an ingest's
metrics address. That ownerReferences make the garbage collector delete the children (and the
pod) is exercised on the live cluster (tests/cluster), where a controller manager runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from livechat_operator import render
from livechat_operator.config import ReleaseConfig
from tests.deploy.kube import ROOT
from tests.deploy.test_chart_apiserver import Cluster
from tests.operator.process import Operator, api_server, operator_release_json
from tests.support.fake_twitch import FakeTwitch
from tests.support.procs import free_port, wait_until

pytestmark = pytest.mark.timeout(300)

NS = "channels"
TC_PATH = f"/apis/livechat.io/v1alpha1/namespaces/{NS}/twitchchannels"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with api_server(tmp_path_factory.mktemp("apiserver"), NS) as c:
        yield c


@pytest.fixture(scope="module")
def release_json() -> str:
    return operator_release_json(os.environ.get("LIVECHAT_TEST_KAFKA", "127.0.0.1:9092"), NS)


@pytest.fixture(scope="module")
def release(release_json: str) -> ReleaseConfig:
    return ReleaseConfig.from_json(json.loads(release_json))


@pytest.fixture(scope="module")
def twitch() -> Iterator[FakeTwitch]:
    with FakeTwitch() as server:
        yield server


class Ingest:
    """A real ``python -m ingest`` configured from the ConfigMap the operator wrote."""

    def __init__(self, data: dict[str, str], tmp: Path) -> None:
        self.metrics_port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **data,
            # Host-side stand-ins for what the pod would have: its metrics address and spool.
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(self.metrics_port),
            "SPOOL_DIR": str(tmp / "spool"),
        }
        self.log_path = tmp / "ingest.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingest"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def privmsg(channel: str, text: str) -> str:
    tags = (
        f"badges=;color=#1E90FF;display-name=Viewer;emotes=;id={uuid.uuid4()};"
        f"room-id=1;tmi-sent-ts={int(time.time() * 1000)};user-id=3"
    )
    return f"@{tags} :viewer!viewer@viewer.tmi.twitch.tv PRIVMSG #{channel} :{text}"


def channel(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "livechat.io/v1alpha1",
        "kind": "TwitchChannel",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def get(cluster: Cluster, path: str) -> dict[str, Any] | None:
    response = cluster.request("GET", path)
    return None if response.status_code == 404 else response.json()


def merge_patch(cluster: Cluster, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self-signed serving certificate on loopback
        response = requests.patch(
            cluster.server + path,
            data=json.dumps(body),
            headers={
                "Authorization": f"Bearer {cluster.token}",
                "Content-Type": "application/merge-patch+json",
            },
            verify=False,
            timeout=30,
        )
    assert response.status_code == 200, response.text
    return dict(response.json())


def events(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    items = cluster.request("GET", f"/api/v1/namespaces/{NS}/events").json()["items"]
    return [e for e in items if e["involvedObject"]["name"] == name]


def conditions(tc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (tc.get("status") or {}).get("conditions", [])}


def sample_value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not exposed")


# --- the schema -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"login": "#hash"}, "spec.login"),
        ({"login": "a" * 26}, "spec.login"),
        ({}, "spec.login: Required value"),
        ({"login": "ok", "ircPort": "6667"}, "spec.ircPort"),
        ({"login": "ok", "ircPort": 70000}, "spec.ircPort"),
        ({"login": "ok", "paused": "yes"}, "spec.paused"),
        ({"login": "ok", "ircTls": "maybe"}, "spec.ircTls"),
        ({"login": "ok", "env": {"log_level": "x"}}, "env names are upper-case"),
        (
            {"login": "ok", "env": {"IRC_AUTH": "oauth:x"}},
            "IRC_AUTH comes from the release's Secret",
        ),
        ({"login": "ok", "env": {"LOG_LEVEL": 5}}, "spec.env.LOG_LEVEL"),
        (
            {"login": "ok", "resources": {"limits": {"memory": "lots"}}},
            "spec.resources.limits.memory",
        ),
        ({"login": "ok", "nickname": "not a login"}, "spec.nickname"),
    ],
)
def test_the_crd_refuses_bad_specs(cluster: Cluster, spec: dict[str, Any], message: str) -> None:
    response = cluster.create(channel("bad", **spec), NS)
    assert response.status_code == 422, response.text
    assert message in response.json()["message"]


def test_status_is_a_subresource_and_printer_columns_are_declared(cluster: Cluster) -> None:
    crd = cluster.request(
        "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/twitchchannels.livechat.io"
    ).json()
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["shortNames"] == ["tc"]
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Joined", "Lines/s", "Last message", "Age"]
    # A spec write cannot set status: the subresource drops it.
    created = cluster.create(channel("status-probe", login="probe"), NS).json()
    body = {**channel("status-probe", login="probe"), "status": {"joined": True}}
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    updated = cluster.request("PUT", f"{TC_PATH}/status-probe", json=body).json()
    assert "status" not in updated or not updated["status"].get("joined")
    assert cluster.request("DELETE", f"{TC_PATH}/status-probe").status_code == 200


# --- the operator -----------------------------------------------------------------------------


def test_create_change_pause_and_delete_a_channel(
    cluster: Cluster,
    release: ReleaseConfig,
    release_json: str,
    twitch: FakeTwitch,
    tmp_path: Path,
) -> None:
    # Until the ingest runs, its metrics address answers nothing: status says so.
    nothing = f"http://127.0.0.1:{free_port()}/metrics"
    operator = Operator(cluster, NS, release_json, tmp_path / "operator-1", nothing)
    ingest: Ingest | None = None
    stop_chat = threading.Event()
    try:
        # create
        spec = {"login": "alpha", "ircServer": "127.0.0.1", "ircPort": twitch.port, "ircTls": False}
        created = cluster.create(channel("alpha", **spec), NS)
        assert created.status_code == 201, created.text
        uid = created.json()["metadata"]["uid"]
        cm_path = f"/api/v1/namespaces/{NS}/configmaps/chat-ingest-alpha"
        deploy_path = f"/apis/apps/v1/namespaces/{NS}/deployments/chat-ingest-alpha"
        wait_until(lambda: get(cluster, deploy_path), 60, "the operator to create the Deployment")
        cm, deploy = get(cluster, cm_path), get(cluster, deploy_path)
        assert cm and deploy
        expected = {o["kind"]: o for o in render.children(release, spec)}
        assert cm["data"] == expected["ConfigMap"]["data"]
        assert cm["metadata"]["labels"] == expected["ConfigMap"]["metadata"]["labels"]
        assert deploy["spec"]["replicas"] == 1
        assert (
            deploy["spec"]["template"]["metadata"]["annotations"]
            == (expected["Deployment"]["spec"]["template"]["metadata"]["annotations"])
        )
        assert deploy["spec"]["template"]["spec"]["containers"][0]["command"] == [
            "python",
            "-m",
            "ingest",
        ]
        for child in (cm, deploy):
            (ref,) = child["metadata"]["ownerReferences"]
            assert ref == {
                "apiVersion": "livechat.io/v1alpha1",
                "kind": "TwitchChannel",
                "name": "alpha",
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        tc = get(cluster, f"{TC_PATH}/alpha")
        assert tc and not tc["metadata"].get("finalizers"), (
            "no finalizer: deletion is never blocked"
        )
        assert tc["spec"] == spec, "the operator never writes spec"
        wait_until(
            lambda: any(e["reason"] == "Applied" for e in events(cluster, "alpha")),
            30,
            "an Applied Event",
        )

        wait_until(
            lambda: (
                conditions(get(cluster, f"{TC_PATH}/alpha") or {}).get("Ready", {}).get("reason")
                == "MetricsUnreachable"
            ),
            30,
            "Ready False (MetricsUnreachable) while no ingest answers",
        )

        # a real ingest from the ConfigMap the operator wrote; the operator reads its metrics
        ingest = Ingest(cm["data"], tmp_path)
        operator.stop()
        operator = Operator(
            cluster,
            NS,
            release_json,
            tmp_path / "operator-2",
            f"http://127.0.0.1:{ingest.metrics_port}/metrics",
        )
        twitch.wait_for_joins(1, timeout=30)

        def chat() -> None:
            n = 0
            while not stop_chat.is_set():
                twitch.broadcast([privmsg("alpha", f"line {n}")])
                n += 1
                time.sleep(0.1)

        threading.Thread(target=chat, daemon=True).start()

        def flowing() -> bool:
            st = (get(cluster, f"{TC_PATH}/alpha") or {}).get("status") or {}
            return bool(
                st.get("joined")
                and (st.get("linesPerSecond") or 0) > 0
                and st.get("lastMessageTime")
            )

        wait_until(flowing, 60, "status: joined, lines/s > 0 and a last message time")
        tc = get(cluster, f"{TC_PATH}/alpha")
        assert tc
        st = tc["status"]
        assert 2 <= st["linesPerSecond"] <= 30, st
        cond = conditions(tc)
        assert cond["Joined"]["status"] == "True"
        assert cond["KafkaReachable"]["status"] == "True", cond
        assert cond["Ready"]["status"] == "True" and cond["Ready"]["reason"] == "Relaying"
        assert st["observedGeneration"] == tc["metadata"]["generation"]
        assert any(e["reason"] == "Joined" for e in events(cluster, "alpha"))
        metrics = operator.metrics()
        assert sample_value(metrics, 'livechat_operator_channels{state="joined"}') == 1
        assert sample_value(metrics, 'livechat_operator_reconciles_total{outcome="applied"}') >= 1
        assert sample_value(metrics, 'livechat_operator_status_reads_total{outcome="ok"}') >= 1

        # change: the ConfigMap and the pod template's checksum follow, observedGeneration too
        before = deploy["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        merge_patch(cluster, f"{TC_PATH}/alpha", {"spec": {"env": {"LOG_LEVEL": "DEBUG"}}})
        wait_until(
            lambda: (get(cluster, cm_path) or {}).get("data", {}).get("LOG_LEVEL") == "DEBUG",
            30,
            "the ConfigMap to take the change",
        )
        deploy = get(cluster, deploy_path)
        assert (
            deploy
            and deploy["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != before
        )
        wait_until(
            lambda: (
                (get(cluster, f"{TC_PATH}/alpha") or {}).get("status", {}).get("observedGeneration")
                == 2
            ),
            30,
            "observedGeneration 2",
        )

        # pause: zero replicas, Paused condition and Event; resume: one replica again
        merge_patch(cluster, f"{TC_PATH}/alpha", {"spec": {"paused": True}})
        wait_until(
            lambda: (get(cluster, deploy_path) or {})["spec"]["replicas"] == 0, 30, "replicas 0"
        )
        wait_until(
            lambda: (
                conditions(get(cluster, f"{TC_PATH}/alpha") or {}).get("Ready", {}).get("reason")
                == "Paused"
            ),
            30,
            "the Paused condition",
        )
        assert any(e["reason"] == "Paused" for e in events(cluster, "alpha"))
        assert get(cluster, cm_path), "pausing keeps the ConfigMap"
        merge_patch(cluster, f"{TC_PATH}/alpha", {"spec": {"paused": False}})
        wait_until(
            lambda: (get(cluster, deploy_path) or {})["spec"]["replicas"] == 1, 30, "replicas 1"
        )
        wait_until(
            lambda: (
                conditions(get(cluster, f"{TC_PATH}/alpha") or {}).get("Ready", {}).get("status")
                == "True"
            ),
            30,
            "Ready again after resuming",
        )

        # specs the schema cannot refuse become conditions with a reason, and Warning Events
        cluster.create(channel("needs-token", login="needs_token", nickname="somebot"), NS)
        cluster.create(channel("alpha-again", login="alpha"), NS)
        for name, reason in (("needs-token", "TokenMissing"), ("alpha-again", "LoginTaken")):
            wait_until(
                lambda n=name, r=reason: (
                    conditions(get(cluster, f"{TC_PATH}/{n}") or {}).get("Ready", {}).get("reason")
                    == r
                ),
                30,
                f"{name}: Ready False with reason {reason}",
            )
            warning = [e for e in events(cluster, name) if e["reason"] == reason]
            assert warning and warning[0]["type"] == "Warning"
        assert not get(
            cluster, f"/apis/apps/v1/namespaces/{NS}/deployments/chat-ingest-needs-token"
        )
        assert (
            sample_value(operator.metrics(), 'livechat_operator_errors_total{reason="spec"}') >= 2
        )

        # delete: gone at once (no finalizer); its children name it as owner for the collector
        assert cluster.request("DELETE", f"{TC_PATH}/alpha").status_code == 200
        wait_until(lambda: get(cluster, f"{TC_PATH}/alpha") is None, 10, "the TwitchChannel to go")
        wait_until(
            lambda: (
                sample_value(operator.metrics(), 'livechat_operator_channels{state="joined"}') == 0
            ),
            15,
            "the deleted channel to leave the gauge",
        )
        assert operator.proc.poll() is None, operator.log()[-3000:]
    finally:
        stop_chat.set()
        if ingest:
            ingest.stop()
        operator.stop()


def test_a_bad_setting_stops_the_operator_with_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OPERATOR_NAMESPACE": "livechat",
        "OPERATOR_RELEASE_CONFIG": str(tmp_path / "x.json"),
    }
    kopf = Path(sys.executable).with_name("kopf")
    proc = subprocess.run(
        [
            str(kopf),
            "run",
            "--standalone",
            "--namespace=livechat",
            "-m",
            "livechat_operator.handlers",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "livechat-operator: OPERATOR_RELEASE_CONFIG" in proc.stderr
    assert "Traceback" not in proc.stderr
