"""kopf handlers: TwitchChannel -> the ingest's children, and the ingest's health -> status.

Run with ``kopf run --standalone --namespace <ns> -m livechat_operator.handlers`` (the chart's
operator Deployment does). Settings are read when this module is imported; a bad one stops the
process with one line naming it.

- create, update (of spec), resume: render the children (render.py) and server-side apply them
  with an ownerReference to the TwitchChannel, so deleting it deletes them (no finalizer).
  ``spec.paused`` is part of the spec: the Deployment goes to zero replicas and back.
- one periodic task reads every ingest's own /metrics and patches status only.
- a Kubernetes Event on the TwitchChannel for each thing done (Applied, Paused, Joined, ...)
  and each failure (InvalidSpec reasons, ApplyFailed, MetricsUnreachable).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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
_poller: list[asyncio.Task[None]] = []


def _now() -> str:
    return status.rfc3339(time.time())


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: Log, **_: Any) -> None:
    """Keep kopf's bookkeeping in status (the operator writes nothing else) and serve metrics."""
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(
        field="status.kopf.lastHandledConfiguration"
    )
    # Events for what was done are posted explicitly (kube.post_event); kopf's own per-handler
    # chatter stays in the log unless it is a warning or an error.
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


def _refuse(
    body: Any, patch: kopf.Patch, reason: str, message: str, generation: int, logger: Log
) -> None:
    """A spec the operator cannot act on: say so in status and an Event; no retry."""
    uid = body["metadata"]["uid"]
    with _lock:
        _failed[uid] = reason
    ERRORS.labels("spec").inc()
    RECONCILES.labels("failed").inc()
    STATES.set(uid, "failed")
    _announce(body, "Warning", reason, message, logger)
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
        _refuse(body, patch, exc.reason, str(exc), generation, logger)
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
                    logger,
                )
                return
        for obj in objs:
            obj["metadata"]["namespace"] = namespace
            kopf.append_owner_reference(obj, owner=body)
            kube.apply(obj, namespace)
    except kube.KubeError as exc:
        ERRORS.labels("api").inc()
        RECONCILES.labels("failed").inc()
        _announce(body, "Warning", "ApplyFailed", str(exc), logger)
        raise kopf.TemporaryError(str(exc), delay=min(60, 2 ** min(retry, 6))) from exc

    with _lock:
        _failed.pop(uid, None)
    RECONCILES.labels("applied").inc()
    names = ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in objs)
    if channel.paused:
        STATES.set(uid, "paused")
        _announce(body, "Normal", "Paused", f"ingest scaled to 0 ({names})", logger)
        old = (body.get("status") or {}).get("conditions")
        fields = status.observed(None, None, None, paused=True)
        fields["conditions"] = status.merge_conditions(
            old, fields["conditions"], _now(), generation
        )
        patch.status.update(fields)
    else:
        if STATES.get(uid) in (None, "paused", "failed"):
            STATES.set(uid, "unknown")
        _announce(body, "Normal", "Applied", f"{reason}: applied {names}", logger)
    patch.status["observedGeneration"] = generation
    patch.status["ingestDeployment"] = channel.object_name
    logger.info("%s: applied %s", reason, names)


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
def deleted(meta: kopf.Meta, logger: Log, **_: Any) -> None:
    """Nothing to clean up by hand: the garbage collector follows the ownerReferences."""
    logger.info("deleted; its ConfigMap, Deployment (and spool claim) go with it")


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


def read_status(body: dict[str, Any], logger: Log) -> None:
    """Read one ingest's /metrics and patch joined, lines/s, last message and conditions."""
    meta, spec = body["metadata"], body.get("spec") or {}
    uid, name = str(meta["uid"]), str(meta["name"])
    namespace = str(meta.get("namespace") or SETTINGS.namespace)
    with _lock:
        if uid in _failed:
            return  # the refusal's conditions stand until the spec changes
    try:
        channel = render.channel(SETTINGS.release, spec)
    except render.SpecError:
        return  # the reconcile handler refuses it and says why
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
    generation = (body.get("status") or {}).get("observedGeneration")
    fields["conditions"] = status.merge_conditions(old, fields["conditions"], _now(), generation)
    kube.patch_status(name, namespace, fields)
    _announce_changes(body, old, fields["conditions"], logger)
    if error:
        logger.debug("%s: %s", name, error)


def poll_once(logger: Log) -> None:
    """One round over every TwitchChannel of the namespace, a few ingests at a time."""
    channels = kube.list_channels(SETTINGS.namespace)
    present = {str(c["metadata"]["uid"]) for c in channels}
    for uid in STATES.known() - present:  # deleted since the last round
        STATES.forget(uid)
        with _lock:
            _samples.pop(uid, None)
            _failed.pop(uid, None)

    def one(body: dict[str, Any]) -> None:
        try:
            read_status(body, logger)
        except kube.KubeError as exc:
            ERRORS.labels("api").inc()
            logger.warning("status of %s: %s", body["metadata"]["name"], exc)

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="status") as pool:
        list(pool.map(one, channels))


async def _poll_forever(logger: Log) -> None:
    """The periodic status task: every OPERATOR_STATUS_INTERVAL seconds, all channels.

    One task for the whole namespace rather than a kopf timer per resource: kopf puts a
    finalizer on every resource that has a timer, and a TwitchChannel needs none.
    """
    while True:
        started = time.monotonic()
        try:
            await asyncio.to_thread(poll_once, logger)
        except kube.KubeError as exc:
            ERRORS.labels("api").inc()
            logger.warning("status round: %s", exc)
        except Exception:  # the loop must outlive any one bad round
            ERRORS.labels("status").inc()
            logger.exception("status round failed")
        elapsed = time.monotonic() - started
        await asyncio.sleep(max(0.1, SETTINGS.status_interval - elapsed))


@kopf.on.startup()
async def start_status_poller(logger: Log, **_: Any) -> None:
    _poller.append(asyncio.get_running_loop().create_task(_poll_forever(logger)))


@kopf.on.cleanup()
async def stop_status_poller(**_: Any) -> None:
    for task in _poller:
        task.cancel()


def _announce(body: Any, kind: str, reason: str, message: str, logger: Log) -> None:
    try:
        kube.post_event(body, kind, reason, message)
    except kube.KubeError as exc:
        ERRORS.labels("api").inc()
        logger.warning("%s", exc)


def _announce_changes(body: Any, old: Any, new: list[dict[str, Any]], logger: Log) -> None:
    """An Event when the channel joins or leaves, Kafka goes, or its metrics stop answering."""
    before = {c.get("type"): c.get("status") for c in old or [] if isinstance(c, dict)}
    for cond in new:
        if before.get(cond["type"]) == cond["status"]:
            continue
        if cond["type"] == "Joined" and cond["status"] == "True":
            _announce(body, "Normal", "Joined", cond["message"], logger)
        elif cond["type"] == "Joined" and before.get("Joined") == "True":
            _announce(body, "Warning", cond["reason"], cond["message"], logger)
        elif cond["type"] == "KafkaReachable" and cond["status"] == "False":
            _announce(body, "Warning", "KafkaDown", cond["message"], logger)
        elif (
            cond["type"] == "Ready"
            and cond["reason"] == "MetricsUnreachable"
            and before.get("Ready") == "True"
        ):
            _announce(body, "Warning", "MetricsUnreachable", cond["message"], logger)
