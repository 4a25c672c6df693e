"""The chart on a live single-node cluster: pods from the project's own image really run.

.ci/test.sh brings the node up with .ci/cluster/cluster.sh (the code `make cluster` runs): a
kubelet on containerd, kube-proxy, CoreDNS, the project's image built from the Dockerfile, and
test substitutes for the redis and apache/kafka images under the chart's default names. The
release uses the chart's default values; tests/cluster/values-live.yaml changes only the IRC
server's address (a scripted Twitch IRC server running in the cluster) and names the channels.

The tests run in file order against one release: install and `helm test`, chat across the two
app pods through the Service, Twitch chat from the in-cluster IRC server into ``#alpha``, a
channel added and removed with `helm upgrade`, an app pod deleted mid-conversation, the
NetworkPolicy check, and last the operator: `kubectl get tc` status for two channels and a third
added with `kubectl apply`.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import re
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from tests.cluster.kube import (
    CHART,
    CLUSTER_SH,
    KUBECONFIG,
    ROOT,
    Kube,
    is_ready,
    metric,
    wait_until,
)
from tests.cluster.netpol import Endpoint, Flow, Recorder, allowed
from tests.replicas.pairs import Writer, ids, received
from tests.support.clients import RecordingClient

pytestmark = pytest.mark.timeout(900)

RELEASE = "live"
HERE = Path(__file__).parent
VALUES = HERE / "values-live.yaml"
APP = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=app"
INGEST = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=ingest"


def irc_manifest() -> str:
    """The scripted Twitch IRC server: the ingest tests' FakeTwitch, in the project's image."""
    files = {
        "fake_twitch.py": (ROOT / "tests" / "support" / "fake_twitch.py").read_text(),
        "irc_server.py": (HERE / "irc_server.py").read_text(),
    }
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "twitch-irc"},
        "data": files,
    }
    rest = textwrap.dedent(
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: twitch-irc}
        spec:
          replicas: 1
          selector: {matchLabels: {app: twitch-irc}}
          template:
            metadata: {labels: {app: twitch-irc}}
            spec:
              automountServiceAccountToken: false
              containers:
                - name: irc
                  image: livechat:%s
                  imagePullPolicy: IfNotPresent
                  command: [python, -u, /fixture/irc_server.py]
                  ports:
                    - {name: irc, containerPort: 6667}
                    - {name: control, containerPort: 8080}
                  readinessProbe: {tcpSocket: {port: irc}, periodSeconds: 1}
                  volumeMounts: [{name: fixture, mountPath: /fixture}]
              volumes: [{name: fixture, configMap: {name: twitch-irc}}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: twitch-irc}
        spec:
          selector: {app: twitch-irc}
          ports:
            - {name: irc, port: 6667, targetPort: irc}
            - {name: control, port: 8080, targetPort: control}
        """
    )
    app_version = next(
        line.split(":", 1)[1].strip().strip('"')
        for line in (CHART / "Chart.yaml").read_text().splitlines()
        if line.startswith("appVersion:")
    )
    return json.dumps(config_map) + "\n---\n" + rest % app_version


class Irc:
    """The test's handle on the in-cluster IRC server (through its Service's ClusterIP)."""

    def __init__(self, kube: Kube) -> None:
        self.url = f"http://{kube.cluster_ip('twitch-irc')}:8080"

    def clients(self) -> list[dict[str, Any]]:
        response = requests.get(self.url + "/clients", timeout=5)
        response.raise_for_status()
        return list(response.json())

    def joined(self, channel: str) -> list[dict[str, Any]]:
        names = {channel, f"#{channel}"}
        return [c for c in self.clients() if names & set(c["channels"]) and not c["closed"]]

    def broadcast(self, *lines: str) -> None:
        requests.post(self.url + "/broadcast", data="\n".join(lines), timeout=10).raise_for_status()


def privmsg(channel: str, text: str, login: str = "ada_l") -> str:
    tags = (
        f"badge-info=;badges=;color=#FF4500;display-name={login};emotes=;id={uuid.uuid4()};"
        f"mod=0;room-id=1;tmi-sent-ts={int(time.time() * 1000)};user-id=2"
    )
    return f"@{tags} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{channel} :{text}"


def channels(*names: str) -> list[str]:
    """helm arguments setting ``ingest.channels`` on top of values-live.yaml."""
    return ["--set-json", "ingest.channels=" + json.dumps([{"name": n} for n in names])]


def upgrade(kube: Kube, *args: str) -> None:
    """`helm upgrade --wait` of the test's release with values-live.yaml and ``args``."""
    kube.helm("upgrade", RELEASE, str(CHART), "-f", str(VALUES), *args, "--wait", "--timeout", "5m")


@pytest.fixture(scope="module")
def kube() -> Iterator[Kube]:
    """A fresh namespace on the running cluster, deleted afterwards."""
    if not KUBECONFIG.exists():
        pytest.fail("no live cluster: .ci/test.sh starts it (or run `make cluster`)")
    namespace = f"live-{uuid.uuid4().hex[:6]}"
    Kube("default").kubectl("create", "namespace", namespace)
    kube = Kube(namespace)
    try:
        yield kube
    finally:
        kube.helm("uninstall", RELEASE, "--wait", "--timeout", "3m", check=False)
        Kube("default").kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def irc(kube: Kube) -> Irc:
    kube.apply(irc_manifest())
    kube.kubectl("rollout", "status", "deployment/twitch-irc", "--timeout=180s", timeout=200)
    return Irc(kube)


def cluster_env() -> dict[str, str]:
    """LIVECHAT_CLUSTER_NS (the node's network namespace) and LIVECHAT_NODE_IP."""
    out = subprocess.run([str(CLUSTER_SH), "env"], capture_output=True, text=True, check=True)
    return dict(word.split("=", 1) for word in out.stdout.split()[1:])


@pytest.fixture(scope="module")
def recorder(kube: Kube) -> Iterator[Recorder]:
    """Connections made while the tests run, for the NetworkPolicy check at the end."""
    rec = Recorder(
        cluster_env()["LIVECHAT_CLUSTER_NS"],
        lambda: Kube("default").get("pods", "--all-namespaces")["items"],
    ).start()
    yield rec
    rec.stop()


@pytest.fixture(scope="module")
def release(kube: Kube, irc: Irc, recorder: Recorder) -> str:
    """`helm install --wait` with the chart's defaults (IRC address and channels aside)."""
    started = time.monotonic()
    kube.helm("install", RELEASE, str(CHART), "-f", str(VALUES), "--wait", "--timeout", "10m")
    print(f"helm install --wait: {time.monotonic() - started:.0f} s")
    return RELEASE


@pytest.fixture
def app_url(kube: Kube) -> str:
    return f"http://{kube.cluster_ip(f'{RELEASE}-app')}:80"


def test_install_every_pod_ready_and_helm_test_passes(kube: Kube, release: str) -> None:
    # `helm install --wait` waits for what Helm applied; the ingest Deployments are the
    # operator's children, made from the TwitchChannel right after, so wait for them too.
    selector = f"app.kubernetes.io/instance={release}"
    wait_until(
        lambda: kube.ready_pods(f"{selector},app.kubernetes.io/component=ingest"),
        180,
        "the operator's ingest pod to be Ready",
    )
    pods = kube.pods(selector)
    components = sorted({p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods})
    assert components == ["app", "ingest", "kafka", "operator", "redis"], components
    not_ready = [p["metadata"]["name"] for p in pods if not is_ready(p)]
    assert not not_ready, f"not Ready after helm install --wait: {not_ready}"
    assert len([p for p in pods if "component=app" in _labels(p)]) == 2
    out = kube.helm("test", release, "--timeout", "5m", "--logs")
    assert re.search(r"Phase:\s+Succeeded", out), out


def _labels(pod: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in pod["metadata"]["labels"].items())


def test_chat_through_the_service_across_both_app_pods(
    kube: Kube, release: str, app_url: str
) -> None:
    app_pods = kube.ready_pods(APP)
    assert len(app_pods) == 2
    room = f"kube-{uuid.uuid4().hex[:6]}"
    clients: list[RecordingClient] = []
    try:
        # kube-proxy spreads connections over both pods; add clients until both have some.
        for i in range(24):
            client = RecordingClient(app_url)
            clients.append(client)
            assert client.call("join_room", {"username": f"u{i}", "room": room})["ok"]
            counts = [metric(p, "livechat_connected_clients") for p in app_pods]
            if len(clients) >= 2 and all(c > 0 for c in counts):
                break
        assert all(c > 0 for c in counts), f"all clients on one pod: {counts}"
        ack = clients[0].call("send_message", {"room": room, "message": "across the cluster"})
        assert ack["ok"], ack
        for client in clients:
            client.wait_for(
                "receive_message",
                lambda d: d["room"] == room and d["message"] == "across the cluster",
            )
        print(f"clients per app pod: {counts}")
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                client.close()


def test_twitch_chat_from_the_in_cluster_irc_server_shows_in_the_room(
    kube: Kube, release: str, irc: Irc, app_url: str
) -> None:
    wait_until(lambda: irc.joined("alpha"), 120, "the alpha ingest to join #alpha")
    viewer = RecordingClient(app_url)
    try:
        assert viewer.call("join_room", {"username": "viewer", "room": "#alpha"})["ok"]
        texts = [f"hello from the cluster {i}" for i in range(5)]
        irc.broadcast(*(privmsg("alpha", t) for t in texts))
        for text in texts:
            viewer.wait_for(
                "receive_message",
                lambda d, t=text: d["room"] == "#alpha" and d["message"] == t,
                timeout=60,
            )
        shown = [m["message"] for m in received(viewer, "#alpha")]
        assert [t for t in shown if t in texts] == texts  # in order, once each
    finally:
        viewer.close()


def test_helm_upgrade_adds_and_removes_exactly_one_ingest(
    kube: Kube, release: str, irc: Irc
) -> None:
    before = {p["metadata"]["uid"]: p["metadata"]["name"] for p in kube.pods(INGEST)}
    assert len(before) == 1
    upgrade(kube, *channels("alpha", "beta"))
    # The ingest Deployments are the operator's children: wait for the new one's pod.
    wait_until(
        lambda: (
            pods
            if len(pods := {p["metadata"]["uid"]: p for p in kube.pods(INGEST)}) > len(before)
            else None
        ),
        180,
        "the operator to start the beta ingest pod",
    )
    time.sleep(5)  # and no second new pod follows
    after = {p["metadata"]["uid"]: p for p in kube.pods(INGEST)}
    new = [p for uid, p in after.items() if uid not in before]
    assert set(before) <= set(after), "the alpha ingest pod was restarted"
    assert len(new) == 1, [p["metadata"]["name"] for p in new]
    wait_until(lambda: irc.joined("beta"), 120, "the beta ingest to join #beta")

    upgrade(kube)
    wait_until(
        lambda: (
            set(p["metadata"]["uid"] for p in kube.get("pods", "-l", INGEST)["items"])
            == set(before)
        ),
        120,
        "the beta ingest pod to go, alpha's to stay",
    )
    wait_until(lambda: not irc.joined("beta"), 60, "the beta ingest to leave IRC")


def test_app_pod_deleted_mid_conversation_client_resumes_on_the_other(
    kube: Kube, release: str
) -> None:
    room = f"resume-{uuid.uuid4().hex[:6]}"
    doomed, survivor = kube.ready_pods(APP)[:2]
    on = {
        pod["metadata"]["name"]: f"http://{pod['status']['podIP']}:"
        f"{pod['spec']['containers'][0]['ports'][0]['containerPort']}"
        for pod in (doomed, survivor)
    }
    reader = RecordingClient(on[doomed["metadata"]["name"]])
    writer_client = RecordingClient(on[survivor["metadata"]["name"]])
    assert reader.call("join_room", {"username": "rita", "room": room})["ok"]
    assert writer_client.call("join_room", {"username": "will", "room": room})["ok"]
    writer = Writer(writer_client, room, interval=0.25).start()
    back: RecordingClient | None = None
    try:
        wait_until(lambda: len(received(reader, room)) >= 5, 30, "the reader to see 5 messages")
        kube.kubectl("delete", "pod", doomed["metadata"]["name"], "--wait=false")
        wait_until(lambda: not reader.connected, 60, "the deleted pod to close the reader")
        seen = ids(received(reader, room))
        assert seen == writer.acked[: len(seen)]
        writer.wait_acked(len(writer.acked) + 4, timeout=20)

        # Back through the Service: only the surviving (or a new, ready) pod is behind it.
        url = f"http://{kube.cluster_ip(f'{RELEASE}-app')}:80"
        back = wait_until(lambda: RecordingClient(url), 60, "a connection through the Service")
        with writer.paused():
            ack = back.call("join_room", {"username": "rita", "room": room, "since": seen[-1]})
            missed = [i for i in writer.acked if i > seen[-1]]
        assert ack["ok"], ack
        history = back.wait_for("history", lambda d: d["room"] == room)
        assert ids(history["messages"]) == missed, "messages lost or repeated across the move"
        writer.wait_acked(len(writer.acked) + 3, timeout=20)
        last = writer.acked[-1]
        wait_until(lambda: last in ids(received(back, room)), 20, "live messages after resuming")
        assert writer.refused == []
    finally:
        writer.stop()
        for client in (reader, writer_client, back):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
    wait_until(lambda: len(kube.ready_pods(APP)) == 2, 180, "the Deployment to replace the pod")


def test_bundled_redis_requires_its_password(kube: Kube, release: str) -> None:
    (pod,) = kube.ready_pods(
        f"app.kubernetes.io/instance={release},app.kubernetes.io/component=redis"
    )
    stranger = redis.Redis(host=pod["status"]["podIP"], port=6379, socket_timeout=5)
    with pytest.raises(redis.exceptions.AuthenticationError):
        stranger.ping()
    secret = kube.get("secret", f"{release}-redis")["data"]["redis-password"]
    password = base64.b64decode(secret).decode()
    assert redis.Redis(host=pod["status"]["podIP"], password=password, socket_timeout=5).ping()


def test_changing_persistence_on_an_installed_release_fails_with_one_line(
    kube: Kube, release: str
) -> None:
    out = kube.helm(
        "upgrade",
        release,
        str(CHART),
        "-f",
        str(VALUES),
        "--set",
        "redis.persistence.enabled=false",
        check=False,
    )
    assert "redis.persistence.enabled: cannot change from true to false" in out, out
    status = json.loads(kube.helm("status", release, "-o", "json"))
    assert status["info"]["status"] == "deployed"


def test_default_image_missing_from_the_nodes_fails_the_install(kube: Kube) -> None:
    out = kube.helm(
        "install", "nowhere", str(CHART), "--set", "image.tag=0.0.0-absent", check=False
    )
    lines = [line for line in out.splitlines() if "image.repository" in line]
    assert len(lines) == 1 and "livechat:0.0.0-absent is on no node" in lines[0], out
    assert "nowhere" not in kube.helm("list", "-q")


def test_network_policies_allow_every_recorded_connection(
    kube: Kube, release: str, recorder: Recorder
) -> None:
    """Nothing here enforces NetworkPolicies: check them against the traffic the tests made."""
    recorder.stop()
    policies = kube.get("networkpolicies")["items"]
    assert {p["metadata"]["name"] for p in policies} >= {f"{release}-app", f"{release}-redis"}
    namespaces = Kube("default").get("namespaces")["items"]
    ns_labels = {n["metadata"]["name"]: n["metadata"].get("labels", {}) for n in namespaces}
    env = cluster_env()
    node_ip = env["LIVECHAT_NODE_IP"]
    pods = {ip: e for ip, e in recorder.endpoints.items() if e.namespace == kube.namespace}
    gateways = {str(next(ipaddress.ip_network(f"{ip}/24", strict=False).hosts())) for ip in pods}

    def endpoint(ip: str) -> Endpoint:
        return recorder.endpoints.get(ip) or Endpoint(ip, None, name=ip)

    checked: list[tuple[str, str, int]] = []
    refused: list[str] = []
    for flow in sorted(recorder.flows, key=lambda f: (f.src, f.dst, f.port)):
        if flow.src not in pods and flow.dst not in pods:
            continue
        if flow.src in gateways or flow.src == node_ip:
            continue  # the kubelet's probes: always allowed
        src, dst = endpoint(flow.src), endpoint(flow.dst)
        ok, why = allowed(flow, src, dst, policies, ns_labels)
        component = (
            src.labels.get("app.kubernetes.io/component")
            or src.labels.get("app")
            or ("host" if src.namespace is None else src.name)
        )
        target = (
            dst.labels.get("app.kubernetes.io/component")
            or dst.labels.get("app")
            or ("node" if dst.ip == node_ip else dst.name)
        )
        checked.append((component, target, flow.port))
        if not ok:
            refused.append(f"{component} -> {target}:{flow.port}/{flow.protocol}: {why}")
    kinds = set(checked)
    print("recorded connections:", sorted(kinds))
    # The recording saw the traffic that matters (so the check below is not vacuous).
    for needed in [
        ("app", "redis", 6379),
        ("app", "kafka", 9092),
        ("ingest", "kafka", 9092),
        ("ingest", "twitch-irc", 6667),
        ("host", "app", 5000),
        ("app", "node", 53),
    ]:
        assert needed in kinds, f"no {needed} connection recorded"
    # The password test's probe from the host to Redis is the one connection that must be refused.
    probes = [r for r in refused if r.startswith("host -> redis:6379/")]
    assert probes, "the policy let the host's probe reach the bundled Redis"
    others = [r for r in refused if r not in probes]
    assert not others, "the chart's NetworkPolicies would block real traffic:\n" + "\n".join(others)
    # And they do refuse what they should: the ingest has no business with Redis.
    ingest_ip = next(
        ip for ip, e in pods.items() if e.labels.get("app.kubernetes.io/component") == "ingest"
    )
    redis_ip = next(
        ip for ip, e in pods.items() if e.labels.get("app.kubernetes.io/component") == "redis"
    )
    ok, _ = allowed(
        Flow(ingest_ip, redis_ip, 6379, "TCP"), pods[ingest_ip], pods[redis_ip], policies, ns_labels
    )
    assert not ok


def test_operator_status_in_kubectl_get_tc_and_a_channel_added_with_kubectl_apply(
    kube: Kube, release: str, irc: Irc, app_url: str
) -> None:
    """Issue 14 on the live node: two channels from values, both Joined with lines per second
    and a last message in `kubectl get tc`; a third added with `kubectl apply` relays into
    ``#third`` on the chat Service; deleting it removes its ingest pod."""
    upgrade(kube, *channels("alpha", "beta"))
    for login in ("alpha", "beta"):
        wait_until(lambda login=login: irc.joined(login), 180, f"the {login} ingest to join")

    def flowing() -> list[dict[str, Any]] | None:
        """Chat on both channels while the operator's status reads (15 s apart) catch up."""
        irc.broadcast(*(privmsg(c, f"tick {time.monotonic():.1f}") for c in ("alpha", "beta")))
        items = [kube.get("twitchchannel", name) for name in ("alpha", "beta")]
        done = all(
            tc.get("status", {}).get("joined") is True
            and (tc["status"].get("linesPerSecond") or 0) > 0
            and tc["status"].get("lastMessageTime")
            for tc in items
        )
        return items if done else None

    wait_until(flowing, 180, "both channels Joined with lines/s > 0 in their status", 1.0)
    print(kube.kubectl("get", "tc"))

    kube.apply(
        json.dumps(
            {
                "apiVersion": "livechat.io/v1alpha1",
                "kind": "TwitchChannel",
                "metadata": {"name": "third"},
                "spec": {"login": "third"},
            }
        )
    )
    wait_until(lambda: irc.joined("third"), 180, "the kubectl-applied ingest to join #third")
    viewer = RecordingClient(app_url)
    try:
        assert viewer.call("join_room", {"username": "viewer3", "room": "#third"})["ok"]
        irc.broadcast(privmsg("third", "hello third"))
        viewer.wait_for(
            "receive_message",
            lambda d: d["room"] == "#third" and d["message"] == "hello third",
            timeout=60,
        )
    finally:
        viewer.close()
    pods = [p for p in kube.pods(INGEST) if "third" in p["metadata"]["name"]]
    assert len(pods) == 1, [p["metadata"]["name"] for p in kube.pods(INGEST)]
    kube.kubectl("delete", "twitchchannel", "third", "--wait=true")
    wait_until(
        lambda: (
            not [
                p
                for p in kube.get("pods", "-l", INGEST)["items"]
                if "third" in p["metadata"]["name"]
            ]
        ),
        180,
        "the third channel's ingest pod to go with its TwitchChannel",
    )
    wait_until(lambda: not irc.joined("third"), 60, "the third ingest to leave IRC")
