"""Check NetworkPolicies against traffic a release really made, where nothing enforces them.

The test cluster's CNI (bridge) does not enforce NetworkPolicies, so the live test records the
connections pods made (conntrack in the node's network namespace, sampled while the tests run)
and evaluates the release's policies on each one, by the API's rules: a connection is allowed
when the destination pod's ingress policies (if any select it) admit the source on that port,
and the source pod's egress policies (if any select it) admit the destination on that port.
The kubelet's probes (from the node) are always allowed, as every enforcing plugin does.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

_TUPLE = re.compile(r"src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)")


@dataclass(frozen=True)
class Flow:
    """One connection: who opened it, and the pod address and port that answered."""

    src: str
    dst: str
    port: int
    protocol: str


@dataclass
class Endpoint:
    ip: str
    namespace: str | None  # None: not a pod (the host, the node)
    labels: dict[str, str] = field(default_factory=dict)
    ports: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (number, protocol)
    name: str = ""


def parse_conntrack(text: str) -> set[Flow]:
    """Flows from `conntrack -L`: the reply tuple's source is the real destination (after DNAT)."""
    flows = set()
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0] not in ("tcp", "udp"):
            continue
        tuples = _TUPLE.findall(line)
        if len(tuples) < 2:
            continue
        (src, _dst, _sport, _dport), (reply_src, _rdst, reply_sport, _rdport) = tuples[:2]
        flows.add(Flow(src, reply_src, int(reply_sport), parts[0].upper()))
    return flows


class Recorder:
    """Samples conntrack in the node's namespace and the pods' addresses until stopped."""

    def __init__(self, netns: str, pods: Any, interval: float = 1.0) -> None:
        self.netns = netns
        self.pods = pods  # callable -> list of pod objects (all namespaces)
        self.interval = interval
        self.flows: set[Flow] = set()
        self.endpoints: dict[str, Endpoint] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="conntrack")

    def start(self) -> Recorder:
        self._thread.start()
        return self

    def sample(self) -> None:
        out = subprocess.run(
            ["nsenter", f"--net=/var/run/netns/{self.netns}", "conntrack", "-L"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout
        self.flows |= parse_conntrack(out)
        for pod in self.pods():
            ip = pod.get("status", {}).get("podIP")
            if not ip or pod["spec"].get("hostNetwork"):
                continue
            ports = {
                p["name"]: (int(p["containerPort"]), p.get("protocol", "TCP"))
                for c in pod["spec"]["containers"]
                for p in c.get("ports", [])
                if p.get("name")
            }
            self.endpoints[ip] = Endpoint(
                ip,
                pod["metadata"]["namespace"],
                dict(pod["metadata"].get("labels", {})),
                ports,
                pod["metadata"]["name"],
            )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except (subprocess.SubprocessError, OSError, ValueError):
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.sample()


def _selects(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A LabelSelector on labels (an empty selector matches everything)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _peer_matches(
    peer: Obj, other: Endpoint, policy_ns: str, ns_labels: dict[str, dict[str, str]]
) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(other.ip)
        if ip not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(ip in ipaddress.ip_network(e) for e in block.get("except", []))
    if other.namespace is None:  # not a pod: only ipBlock peers can name it
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], ns_labels.get(other.namespace, {})):
            return False
    elif other.namespace != policy_ns:
        return False
    return _selects(peer.get("podSelector"), other.labels)


def _port_matches(rule_ports: list[Obj] | None, dest: Endpoint, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        want = p.get("port")
        if want is None:
            return True
        if isinstance(want, str):
            named = dest.ports.get(want)
            if named and named[0] == port:
                return True
            continue
        end = p.get("endPort", want)
        if int(want) <= port <= int(end):
            return True
    return False


def allowed(
    flow: Flow,
    src: Endpoint,
    dst: Endpoint,
    policies: list[Obj],
    ns_labels: dict[str, dict[str, str]],
) -> tuple[bool, str]:
    """Whether the policies allow ``flow``; the reason when they do not."""
    if dst.namespace is not None:
        ingress = [
            p
            for p in policies
            if p["metadata"]["namespace"] == dst.namespace
            and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
            and _selects(p["spec"].get("podSelector"), dst.labels)
        ]
        if ingress and not any(
            _port_matches(rule.get("ports"), dst, flow.port, flow.protocol)
            and (
                not rule.get("from")
                or any(
                    _peer_matches(peer, src, p["metadata"]["namespace"], ns_labels)
                    for peer in rule["from"]
                )
            )
            for p in ingress
            for rule in p["spec"].get("ingress") or []
        ):
            names = [p["metadata"]["name"] for p in ingress]
            return False, f"ingress of {dst.name} ({names}) refuses {src.name or src.ip}"
    if src.namespace is not None:
        egress = [
            p
            for p in policies
            if p["metadata"]["namespace"] == src.namespace
            and "Egress" in p["spec"].get("policyTypes", [])
            and _selects(p["spec"].get("podSelector"), src.labels)
        ]
        if egress and not any(
            _port_matches(rule.get("ports"), dst, flow.port, flow.protocol)
            and (
                not rule.get("to")
                or any(
                    _peer_matches(peer, dst, p["metadata"]["namespace"], ns_labels)
                    for peer in rule["to"]
                )
            )
            for p in egress
            for rule in p["spec"].get("egress") or []
        ):
            names = [p["metadata"]["name"] for p in egress]
            return False, f"egress of {src.name} ({names}) refuses {dst.name or dst.ip}"
    return True, ""
