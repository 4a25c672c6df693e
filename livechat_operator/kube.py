"""The operator's calls to the API server, with the official client (sync, run in kopf's threads).

Children are written with server-side apply under one field manager, so creating and updating
are the same call, a Helm-created ingest from before the operator is adopted field by field, and
nothing the operator does not set is touched.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config, dynamic
from kubernetes.client.rest import ApiException

FIELD_MANAGER = "livechat-operator"

Json = dict[str, Any]


class KubeError(Exception):
    """The API server refused or failed a call; ``str()`` says which object and why."""


@functools.cache
def _dynamic() -> dynamic.DynamicClient:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return dynamic.DynamicClient(client.ApiClient())


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def get(api_version: str, kind: str, name: str, namespace: str) -> Json | None:
    """The object as a dict, or None when it does not exist."""
    try:
        api = _dynamic().resources.get(api_version=api_version, kind=kind)
        return dict(api.get(name=name, namespace=namespace).to_dict())
    except dynamic.exceptions.NotFoundError:
        return None
    except Exception as exc:
        raise KubeError(f"get {kind}/{name}: {_describe(exc)}") from exc


def apply(obj: Json, namespace: str) -> None:
    """Server-side apply ``obj`` (create or update), taking over fields from other managers."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    try:
        api = _dynamic().resources.get(api_version=obj["apiVersion"], kind=kind)
        api.server_side_apply(
            body=obj,
            name=name,
            namespace=namespace,
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
    except Exception as exc:
        raise KubeError(f"apply {kind}/{name}: {_describe(exc)}") from exc


def pod_ips(namespace: str, selector: dict[str, str]) -> list[str]:
    """IPs of the running pods matching ``selector`` (an ingest has one, two during a move)."""
    label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    try:
        pods = client.CoreV1Api(_dynamic().client).list_namespaced_pod(
            namespace, label_selector=label_selector
        )
    except Exception as exc:
        raise KubeError(f"list pods {label_selector}: {_describe(exc)}") from exc
    return [
        p.status.pod_ip
        for p in pods.items
        if p.status
        and p.status.phase == "Running"
        and p.status.pod_ip
        and not (p.metadata and p.metadata.deletion_timestamp)
    ]


API_VERSION, KIND = "livechat.io/v1alpha1", "TwitchChannel"


def list_channels(namespace: str) -> list[Json]:
    """Every TwitchChannel in the namespace, as dicts."""
    try:
        api = _dynamic().resources.get(api_version=API_VERSION, kind=KIND)
        return [dict(item.to_dict()) for item in api.get(namespace=namespace).items]
    except Exception as exc:
        raise KubeError(f"list twitchchannels: {_describe(exc)}") from exc


def patch_status(name: str, namespace: str, status: Json) -> None:
    """Merge-patch a TwitchChannel's status subresource (never its spec)."""
    try:
        api = _dynamic().resources.get(api_version=API_VERSION, kind=KIND)
        api.status.patch(
            body={"status": status},
            name=name,
            namespace=namespace,
            content_type="application/merge-patch+json",
        )
    except Exception as exc:
        raise KubeError(f"patch twitchchannels/{name}/status: {_describe(exc)}") from exc


def post_event(body: Json, kind: str, reason: str, message: str) -> None:
    """A core/v1 Event on the TwitchChannel (``kind``: Normal or Warning), like kopf's."""
    meta = body["metadata"]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": body.get("apiVersion", API_VERSION),
            "kind": body.get("kind", KIND),
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
        },
        "reason": reason,
        "message": message[:1024],
        "type": kind,
        "source": {"component": "livechat-operator"},
        "reportingComponent": "livechat-operator",
        "reportingInstance": "livechat-operator",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        api = _dynamic().resources.get(api_version="v1", kind="Event")
        api.create(body=event, namespace=meta["namespace"])
    except Exception as exc:
        raise KubeError(f"post Event {reason}: {_describe(exc)}") from exc
