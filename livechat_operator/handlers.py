"""kopf handlers: TwitchChannel -> the ingest's children, and the ingest's health -> status.

Run with ``kopf run --standalone --namespace <ns> -m livechat_operator.handlers`` (the chart's
operator Deployment does). Settings are read when this module is imported; a bad one stops the
process with one line naming it.

- create, update (of spec), resume: render the children (render.py) and server-side apply them
  with an ownerReference to the TwitchChannel, so deleting it deletes them (no finalizer).
  ``spec.paused`` is part of the spec: the Deployment goes to zero replicas and back.
- a timer per TwitchChannel reads the ingest's own /metrics and patches status only.
- a Kubernetes Event on the TwitchChannel for each thing done (Applied, Paused, Joined, ...)
  and each failure (InvalidSpec reasons, ApplyFailed, MetricsUnreachable).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

import kopf
import requests
from prometheus_client import start_http_server

from livechat_operator import kube, render, status
from livechat_operator.config import ConfigError, OperatorSettings
from livechat_operator.metrics import ERRORS, RECONCILES, STATUS_READS, ChannelStates

GROUP, VERSION, PLURAL = "livechat.io", "v1alpha1", "twitchchannels"
Log = logging.Logger | logging.LoggerAdapter[Any]

try:
    SETTINGS = OperatorSettings.from_env()
except ConfigError as _exc:
    print(f"livechat-operator: {_exc}", file=sys.stderr)
    raise SystemExit(2) from None

STATES = ChannelStates()
_lock = threading.Lock()
_samples: dict[str, status.Sample] = {}
_failed: dict[str, str] = {}  # uid -> reason, while the spec cannot be rendered


def _now() -> str:
    return status.rfc3339(time.time())


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: Log, **_: Any) -> None:
    """Keep kopf's bookkeeping in status (the operator writes nothing else) and serve metrics."""
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(
        field="status.kopf.lastHandledConfiguration"
    )
    # Events are posted explicitly (kopf.info/kopf.warn) for what was done; kopf's own
    # per-handler chatter stays in the log unless it is a warning or an error.
    settings.posting.level = logging.WARNING
    settings.execution.max_workers = 8
    start_http_server(SETTINGS.metrics_port, SETTINGS.metrics_host)
    logger.info(
        "livechat operator: namespace %s, release %s, status every %gs, metrics on :%d",
        SETTINGS.namespace,
        SETTINGS.release.fullname,
        SETTINGS.status_interval,
        SETTINGS.metrics_port,
    )


def _refuse(body: Any, patch: kopf.Patch, reason: str, message: str, generation: int) -> None:
    """A spec the operator cannot act on: say so in status and an Event; no retry."""
    uid = body["metadata"]["uid"]
    with _lock:
        _failed[uid] = reason
    ERRORS.labels("spec").inc()
    RECONCILES.labels("failed").inc()
    STATES.set(uid, "failed")
    kopf.warn(body, reason=reason, message=message)
    new = [
        status.condition("Ready", False, reason, message),
        status.condition("Joined", None, reason, "no ingest runs for this spec"),
        status.condition("KafkaReachable", None, reason, "no ingest runs for this spec"),
    ]
    old = (body.get("status") or {}).get("conditions")
    patch.status["observedGeneration"] = generation
    patch.status["conditions"] = status.merge_conditions(old, new, _now(), generation)


def _owner_conflict(obj: dict[str, Any], uid: str, namespace: str) -> str | None:
    """Who else controls the object we would write, if anyone (two channels, one login)."""
    meta = obj["metadata"]
    existing = kube.get(obj["apiVersion"], obj["kind"], meta["name"], namespace)
    for ref in ((existing or {}).get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid") != uid:
            return f"{obj['kind']}/{meta['name']} belongs to {ref.get('kind')}/{ref.get('name')}"
    return None


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
def reconcile(
    body: kopf.Body,
    spec: kopf.Spec,
    meta: kopf.Meta,
    namespace: str | None,
    patch: kopf.Patch,
    reason: str,
    retry: int,
    logger: Log,
    **_: Any,
) -> None:
    """Apply the channel's PVC, ConfigMap and Deployment as the chart would render them."""
    uid, generation = str(meta["uid"]), int(meta.get("generation") or 0)
    namespace = namespace or SETTINGS.namespace
    release = SETTINGS.release
    try:
        channel = render.channel(release, spec)
        objs = render.children(release, spec)
        if not release.kafka_bootstrap_servers:
            raise render.SpecError(
                "KafkaMissing", "the release has no Kafka (kafka.bundled or kafka.bootstrapServers)"
            )
    except render.SpecError as exc:
        _refuse(body, patch, exc.reason, str(exc), generation)
        return
    try:
        for obj in objs:
            conflict = _owner_conflict(obj, uid, namespace)
            if conflict:
                _refuse(
                    body,
                    patch,
                    "LoginTaken",
                    f"{conflict}: another TwitchChannel has "
                    f"login {channel.login!r}; delete one of them",
                    generation,
                )
                return
        for obj in objs:
            obj["metadata"]["namespace"] = namespace
            kopf.append_owner_reference(obj, owner=body)
            kube.apply(obj, namespace)
    except kube.KubeError as exc:
        ERRORS.labels("api").inc()
        RECONCILES.labels("failed").inc()
        kopf.warn(body, reason="ApplyFailed", message=str(exc))
        raise kopf.TemporaryError(str(exc), delay=min(60, 2 ** min(retry, 6))) from exc

    with _lock:
        _failed.pop(uid, None)
    RECONCILES.labels("applied").inc()
    names = ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in objs)
    if channel.paused:
        STATES.set(uid, "paused")
        kopf.info(body, reason="Paused", message=f"ingest scaled to 0 ({names})")
        old = (body.get("status") or {}).get("conditions")
        fields = status.observed(None, None, None, paused=True)
        fields["conditions"] = status.merge_conditions(
            old, fields["conditions"], _now(), generation
        )
        patch.status.update(fields)
    else:
        if STATES.get(uid) in (None, "paused", "failed"):
            STATES.set(uid, "unknown")
        kopf.info(body, reason="Applied", message=f"{reason}: applied {names}")
    patch.status["observedGeneration"] = generation
    patch.status["ingestDeployment"] = channel.object_name
    logger.info("%s: applied %s", reason, names)


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
def deleted(meta: kopf.Meta, logger: Log, **_: Any) -> None:
    """Nothing to clean up by hand: the garbage collector follows the ownerReferences."""
    logger.info("deleted; its ConfigMap, Deployment (and spool claim) go with it")


@kopf.on.event(GROUP, VERSION, PLURAL)
def forget_deleted(event: kopf.RawEvent, **_: Any) -> None:
    """Drop a deleted channel from the state gauge and the rate memory."""
    if event.get("type") != "DELETED":
        return
    uid = str(((event.get("object") or {}).get("metadata") or {}).get("uid"))
    STATES.forget(uid)
    with _lock:
        _samples.pop(uid, None)
        _failed.pop(uid, None)


def metrics_url(channel: render.Channel, namespace: str, name: str) -> str:
    """OPERATOR_INGEST_METRICS_URL with its placeholders filled ({pod_ip} looked up)."""
    template = SETTINGS.ingest_metrics_url
    fields = {
        "port": SETTINGS.release.metrics_port,
        "namespace": namespace,
        "name": name,
        "login": channel.login,
        "slug": channel.slug,
        "pod_ip": "",
    }
    if "{pod_ip}" in template:
        selector = {**SETTINGS.release.selector_labels, render.CHANNEL_LABEL: channel.slug}
        ips = kube.pod_ips(namespace, selector)
        if not ips:
            raise status.ScrapeError("no running ingest pod yet")
        fields["pod_ip"] = ips[0]
    return template.format(**fields)


@kopf.timer(GROUP, VERSION, PLURAL, interval=SETTINGS.status_interval, initial_delay=1.0)
def read_status(
    body: kopf.Body,
    spec: kopf.Spec,
    meta: kopf.Meta,
    name: str,
    namespace: str | None,
    patch: kopf.Patch,
    logger: Log,
    **_: Any,
) -> None:
    """Read the ingest's /metrics and write joined, lines/s, last message and conditions."""
    uid = str(meta["uid"])
    namespace = namespace or SETTINGS.namespace
    with _lock:
        if uid in _failed:
            return  # the refusal's conditions stand until the spec changes
    try:
        channel = render.channel(SETTINGS.release, spec)
    except render.SpecError:
        return
    current: status.Sample | None = None
    error: str | None = None
    if not channel.paused:
        try:
            url = metrics_url(channel, namespace, name)
            response = requests.get(url, timeout=SETTINGS.ingest_metrics_timeout)
            response.raise_for_status()
            current = status.parse(response.text, time.time())
            STATUS_READS.labels("ok").inc()
        except (requests.RequestException, status.ScrapeError, kube.KubeError) as exc:
            error = f"ingest metrics: {exc}"
            STATUS_READS.labels("failed").inc()
            ERRORS.labels("status").inc()
    with _lock:
        previous = _samples.get(uid)
        if current is not None:
            _samples[uid] = current
    STATES.set(uid, status.state(channel.paused, False, current))

    fields = status.observed(previous, current, error, channel.paused)
    old = (body.get("status") or {}).get("conditions")
    fields["conditions"] = status.merge_conditions(
        old, fields["conditions"], _now(), (body.get("status") or {}).get("observedGeneration")
    )
    _announce_changes(body, old, fields["conditions"])
    patch.status.update(fields)
    if error:
        logger.debug("%s", error)


def _announce_changes(body: Any, old: Any, new: list[dict[str, Any]]) -> None:
    """An Event when the channel joins or leaves, or its metrics stop answering."""
    before = {c.get("type"): c.get("status") for c in old or [] if isinstance(c, dict)}
    for cond in new:
        if before.get(cond["type"]) == cond["status"]:
            continue
        if cond["type"] == "Joined" and cond["status"] == "True":
            kopf.info(body, reason="Joined", message=cond["message"])
        elif cond["type"] == "Joined" and before.get("Joined") == "True":
            kopf.warn(body, reason=cond["reason"], message=cond["message"])
        elif cond["type"] == "KafkaReachable" and cond["status"] == "False":
            kopf.warn(body, reason="KafkaDown", message=cond["message"])
        elif (
            cond["type"] == "Ready"
            and cond["reason"] == "MetricsUnreachable"
            and (before.get("Ready") == "True")
        ):
            kopf.warn(body, reason="MetricsUnreachable", message=cond["message"])
