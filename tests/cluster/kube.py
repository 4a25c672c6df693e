"""Drive the live test cluster (.ci/cluster/cluster.sh) with the real kubectl and helm.

The cluster runs in a network namespace of its own; the host has routes to its pod and Service
ranges, so tests on the host talk to pod IPs and ClusterIPs directly, as a pod would.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"
KUBECONFIG = TOOLS / "cluster" / "kubeconfig"
KUBECTL = TOOLS / "bin" / "kubectl"
HELM = TOOLS / "bin" / "helm"
CHART = ROOT / "charts" / "livechat"
CLUSTER_SH = ROOT / ".ci" / "cluster" / "cluster.sh"

T = TypeVar("T")


def wait_until(check: Callable[[], T | None], timeout: float, what: str, step: float = 0.5) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:
            last_error = exc
        time.sleep(step)
    raise AssertionError(f"{what} within {timeout} s (last error: {last_error!r})")


@dataclass
class Kube:
    """kubectl and helm against the test cluster, in one namespace."""

    namespace: str

    def run(self, tool: Path, *args: str, timeout: float = 120, check: bool = True) -> str:
        proc = subprocess.run(
            [str(tool), "--kubeconfig", str(KUBECONFIG), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{tool.name} {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}"
            )
        return proc.stdout + (proc.stderr if not check else "")

    def kubectl(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        return self.run(KUBECTL, "-n", self.namespace, *args, timeout=timeout, check=check)

    def helm(self, *args: str, timeout: float = 900, check: bool = True) -> str:
        return self.run(HELM, "-n", self.namespace, *args, timeout=timeout, check=check)

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def apply(self, manifest: str) -> None:
        proc = subprocess.run(
            [
                str(KUBECTL),
                "--kubeconfig",
                str(KUBECONFIG),
                "-n",
                self.namespace,
                "apply",
                "-f",
                "-",
            ],
            input=manifest,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr

    def pods(self, selector: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("pods", "-l", selector)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def ready_pods(self, selector: str) -> list[dict[str, Any]]:
        return [p for p in self.pods(selector) if is_ready(p)]

    def cluster_ip(self, service: str) -> str:
        return str(self.get("service", service)["spec"]["clusterIP"])


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def container_port(pod: dict[str, Any], *names: str) -> int:
    """The first of ``names`` among the pod's first container's named ports."""
    ports = {p.get("name"): p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    for name in names:
        if name in ports:
            return int(ports[name])
    raise AssertionError(f"no port named {names} in {ports}")


def metric(pod: dict[str, Any], name: str) -> float:
    """One unlabelled sample from a chat pod's /metrics, read on the pod's IP."""
    port = container_port(pod, "metrics", "http")
    text = requests.get(f"http://{pod['status']['podIP']}:{port}/metrics", timeout=5).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))
