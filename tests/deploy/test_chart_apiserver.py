"""`helm install`/`upgrade`/`uninstall` into a real kube-apiserver (with etcd) on loopback.

.ci/apiserver.sh runs kube-apiserver built from k8s.io/kubernetes (see .ci/apiserver/go.mod) on
free ports; the ServiceMonitor, PrometheusRule and HTTPRoute CRDs are installed from the
upstream files first. There is no kubelet, so pods never run: this checks that every object is
admitted and stored (admission, defaulting, validation, field validation), not that it works.
Besides the real install, every scenario's objects, hooks included, go through a server-side
dry run with strict field validation, so an unknown field fails instead of being dropped.
"""

from __future__ import annotations

import os
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.deploy.kube import CHART, CI_VALUES, CRDS, HELM, ROOT, Obj, helm, ident, render
from tests.support.procs import free_port

pytestmark = pytest.mark.timeout(180)


@dataclass
class Cluster:
    """A tiny REST client for the test API server (discovery, create, get)."""

    server: str
    token: str
    kubeconfig: Path

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # self-signed serving certificate on loopback
            return requests.request(
                method,
                self.server + path,
                headers={"Authorization": f"Bearer {self.token}"},
                verify=False,
                timeout=30,
                **kwargs,
            )

    def resource_path(self, obj: Obj, namespace: str, name: str | None = None) -> str:
        api_version, kind = obj["apiVersion"], obj["kind"]
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        discovery = self.request("GET", base).json()
        resource = next(
            r for r in discovery["resources"] if r["kind"] == kind and "/" not in r["name"]
        )
        ns = f"/namespaces/{namespace}" if resource["namespaced"] else ""
        return f"{base}{ns}/{resource['name']}" + (f"/{name}" if name else "")

    def create(self, obj: Obj, namespace: str, dry_run: bool = False) -> requests.Response:
        namespace = obj["metadata"].get("namespace", namespace)
        params = {"fieldValidation": "Strict"}
        if dry_run:
            params["dryRun"] = "All"
        return self.request("POST", self.resource_path(obj, namespace), json=obj, params=params)

    def get(self, obj: Obj, namespace: str) -> requests.Response:
        namespace = obj["metadata"].get("namespace", namespace)
        return self.request("GET", self.resource_path(obj, namespace, obj["metadata"]["name"]))

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return helm(*args, "--kubeconfig", str(self.kubeconfig), check=check)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    state = tmp_path_factory.mktemp("apiserver")
    port = free_port()
    env = {
        **os.environ,
        "APISERVER_DIR": str(state),
        "APISERVER_PORT": str(port),
        "ETCD_PORT": str(free_port()),
        "ETCD_PEER_PORT": str(free_port()),
    }
    script = str(ROOT / ".ci" / "apiserver.sh")
    subprocess.run([script, "start"], env=env, check=True, timeout=120, capture_output=True)
    try:
        c = Cluster(
            f"https://127.0.0.1:{port}", (state / "token").read_text(), state / "kubeconfig"
        )
        for path in sorted(CRDS.glob("*.yaml")):
            assert c.create(yaml.safe_load(path.read_text()), "").status_code == 201, path
        for namespace in ("livechat", "monitoring", "dryrun"):
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            assert c.create(ns, "").status_code == 201
        _wait_for_crds(c)
        yield c
    finally:
        subprocess.run([script, "stop"], env=env, check=False, timeout=60, capture_output=True)


def _wait_for_crds(c: Cluster) -> None:
    deadline = time.monotonic() + 30
    for group_version in ("monitoring.coreos.com/v1", "gateway.networking.k8s.io/v1"):
        while c.request("GET", f"/apis/{group_version}").status_code != 200:
            assert time.monotonic() < deadline, f"{group_version} never served"
            time.sleep(0.2)


def _manifest_objects(c: Cluster, release: str) -> list[Obj]:
    out = c.helm("get", "manifest", release, "--namespace", "livechat").stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_helm_install_upgrade_uninstall(cluster: Cluster) -> None:
    values = ["-f", str(CI_VALUES / "monitoring-values.yaml")]
    values += ["-f", str(CI_VALUES / "ingress-values.yaml"), "--set", "networkPolicy.enabled=true"]
    install = cluster.helm("install", "chat", str(CHART), "--namespace", "livechat", *values)
    assert "STATUS: deployed" in install.stdout
    assert "helm test chat --namespace livechat" in install.stdout, "NOTES.txt rendered"
    installed = _manifest_objects(cluster, "chat")
    kinds = {o["kind"] for o in installed}
    assert {"Deployment", "StatefulSet", "ServiceMonitor", "PrometheusRule", "HTTPRoute"} <= kinds
    for obj in installed:
        assert cluster.get(obj, "livechat").status_code == 200, ident(obj)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "chat-app"}}
    key_before = cluster.get(secret, "livechat").json()["data"]["secret-key"]

    added = "ingest.channels[1].name=another_one"
    cluster.helm("upgrade", "chat", str(CHART), "--namespace", "livechat", *values, "--set", added)
    upgraded = {ident(o) for o in _manifest_objects(cluster, "chat")}
    assert upgraded - {ident(o) for o in installed} == {
        ("Deployment", "chat-ingest-another-one"),
        ("ConfigMap", "chat-ingest-another-one"),
    }
    new = {"apiVersion": "apps/v1", "kind": "Deployment"}
    response = cluster.get({**new, "metadata": {"name": "chat-ingest-another-one"}}, "livechat")
    assert response.status_code == 200
    assert cluster.get(secret, "livechat").json()["data"]["secret-key"] == key_before, (
        "SECRET_KEY is generated once and kept across upgrades"
    )

    cluster.helm("uninstall", "chat", "--namespace", "livechat", "--wait")
    for obj in installed:
        assert cluster.get(obj, "livechat").status_code == 404, ident(obj)


@pytest.mark.parametrize("values", sorted(CI_VALUES.glob("*-values.yaml")), ids=lambda p: p.stem)
def test_every_object_and_hook_passes_a_strict_server_side_dry_run(
    cluster: Cluster, values: Path
) -> None:
    objs = render(values, release="dry", namespace="dryrun")
    assert any(o["kind"] == "Pod" for o in objs), "the helm test hook is included"
    for obj in objs:
        # Pods need their ServiceAccount to exist for real (admission looks it up).
        real = obj["kind"] == "ServiceAccount"
        response = cluster.create(obj, "dryrun", dry_run=not real)
        if real and response.status_code == 409:
            continue  # created by an earlier scenario
        assert response.status_code == 201, (ident(obj), response.json().get("message"))
        assert not response.headers.get("Warning"), (ident(obj), response.headers["Warning"])


def test_helm_is_the_one_built_for_the_repo() -> None:
    assert HELM.is_file()
