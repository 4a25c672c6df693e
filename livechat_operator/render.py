"""Pure functions from a TwitchChannel spec to the ingest's ConfigMap, Deployment and PVC.

They reproduce, object for object, what ``charts/livechat/templates/ingest-*.yaml`` render for
the same settings (same names, labels, settings and checksum annotation), so an install that
moves from chart-rendered ingests to the operator keeps every object as it was and its pod is
not even restarted. tests/operator/test_render.py holds them to ``helm template`` output.
Nothing here does I/O.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from livechat_operator.config import Json, ReleaseConfig

CHANNEL_LABEL = "livechat/channel"
_LOGIN = re.compile(r"^[A-Za-z0-9_]{1,25}$")
# Spec keys that are about the TwitchChannel itself, not ingest settings.
_OWN_KEYS = {"login", "paused"}


class SpecError(ValueError):
    """A spec the CRD schema cannot refuse on its own; ``str()`` is the condition's message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Channel:
    """One channel's effective settings: ``ingest.defaults`` with the spec over them."""

    login: str
    slug: str
    object_name: str
    paused: bool
    settings: Json


def _is_empty(value: Any) -> bool:
    """Go's zero values, which sprig's mergeOverwrite never copies over a set value."""
    return (
        value is None
        or (not isinstance(value, bool) and value in ("", 0, {}, []))
        or (value is False)
    )


def _merge_overwrite(dst: Json, src: Mapping[str, Any]) -> Json:
    """sprig's ``mergeOverwrite``: src over dst, maps merged recursively, empty src kept out."""
    for key, value in src.items():
        if isinstance(value, Mapping) and isinstance(dst.get(key), dict):
            _merge_overwrite(dst[key], value)
        elif not _is_empty(value) or key not in dst:
            dst[key] = copy.deepcopy(value)
    return dst


def object_name(fullname: str, slug: str) -> str:
    """``livechat.componentName`` for ``ingest-<slug>``: truncated to 63, no trailing '-'."""
    return f"{fullname}-ingest-{slug}"[:63].rstrip("-")


def channel(release: ReleaseConfig, spec: Mapping[str, Any]) -> Channel:
    """Merge the spec over the release's defaults as ``livechat.ingest.channelConfig`` does."""
    login = spec.get("login")
    if not isinstance(login, str) or not _LOGIN.match(login):
        raise SpecError("InvalidLogin", f"spec.login must be a Twitch login, got {login!r}")
    settings = copy.deepcopy(dict(release.defaults))
    for key, value in spec.items():
        if key in _OWN_KEYS:
            continue
        if isinstance(value, Mapping) and isinstance(settings.get(key), dict):
            settings[key] = _merge_overwrite(copy.deepcopy(settings[key]), value)
        else:
            settings[key] = copy.deepcopy(value)
    slug = login.lower().replace("_", "-")
    return Channel(
        login=login,
        slug=slug,
        object_name=object_name(release.fullname, slug),
        paused=bool(spec.get("paused", False)),
        settings=settings,
    )


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` (Helm's ``quote``), so the checksum hashes the chart's bytes."""
    named = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
    named |= {"\r": "\\r", "\t": "\\t", "\v": "\\v"}
    out = []
    for ch in text:
        if ch in named:
            out.append(named[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _go_string(value: Any) -> str:
    """Helm's ``toString`` for the scalar types values and specs hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def config_lines(release: ReleaseConfig, ch: Channel) -> list[tuple[str, str]]:
    """The ConfigMap's (name, value) pairs in ``livechat.ingest.configData`` order."""
    s = ch.settings
    pairs = [
        ("TWITCH_CHANNEL", ch.login),
        ("IRC_SERVER", _go_string(s.get("ircServer"))),
        ("IRC_PORT", str(int(s.get("ircPort") or 0))),
    ]
    if _go_string(s.get("ircTls")) != "":
        pairs.append(("IRC_TLS", _go_string(s.get("ircTls"))))
    if s.get("nickname"):
        pairs.append(("IRC_NICKNAME", _go_string(s["nickname"])))
    spool = release.spool
    pairs += [
        ("KAFKA_BOOTSTRAP_SERVERS", release.kafka_bootstrap_servers),
        ("KAFKA_TOPIC", release.kafka_topic),
        ("METRICS_PORT", str(release.metrics_port)),
        ("SPOOL_DIR", str(spool["mountPath"])),
        ("SPOOL_MAX_BYTES", str(int(spool["maxBytes"]))),
    ]
    env = s.get("env") or {}
    pairs += [(name, _go_string(env[name])) for name in sorted(env)]
    return pairs


def config_checksum(pairs: list[tuple[str, str]]) -> str:
    """sha256 of the exact text the chart hashes into ``checksum/config``."""
    text = "\n".join(f"{name}: {go_quote(value)}" for name, value in pairs)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _labels(release: ReleaseConfig, ch: Channel) -> dict[str, str]:
    return {**release.labels, CHANNEL_LABEL: ch.slug}


def configmap(release: ReleaseConfig, ch: Channel) -> Json:
    """The channel's ConfigMap: every ingest setting except the token."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": ch.object_name, "labels": _labels(release, ch)},
        "data": dict(config_lines(release, ch)),
    }


def needs_token(ch: Channel) -> bool:
    return bool(ch.settings.get("nickname"))


def deployment(release: ReleaseConfig, ch: Channel) -> Json:
    """The channel's Deployment: one IRC connection, so one replica (0 when paused), Recreate."""
    s = ch.settings
    if needs_token(ch) and not release.auth_secret_name:
        raise SpecError(
            "TokenMissing",
            f"spec.nickname {s['nickname']!r} needs a Twitch token: set ingest.auth.existingSecret"
            " (or ingest.auth.token) in the release, or leave nickname empty for anonymous",
        )
    annotations = {"checksum/config": config_checksum(config_lines(release, ch))}
    if needs_token(ch) and release.auth.get("checksum"):
        annotations["checksum/auth"] = str(release.auth["checksum"])
    annotations.update(s.get("podAnnotations") or {})
    container: Json = {
        "name": "ingest",
        "image": release.image,
        "imagePullPolicy": release.image_pull_policy,
        "command": ["python", "-m", "ingest"],
        "ports": [{"name": "metrics", "containerPort": release.metrics_port, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": ch.object_name}}],
    }
    if needs_token(ch):
        secret = {"name": release.auth_secret_name, "key": str(release.auth.get("secretKey"))}
        container["env"] = [{"name": "IRC_AUTH", "valueFrom": {"secretKeyRef": secret}}]
    probe = {"periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3}
    container |= {
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}, **probe},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "metrics"}, **probe},
        "resources": copy.deepcopy(s.get("resources") or {}),
        "securityContext": copy.deepcopy(release.security_context),
        "volumeMounts": [
            {"name": "spool", "mountPath": release.spool["mountPath"]},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if release.spool["persistence"]["enabled"]:
        spool_volume: Json = {"persistentVolumeClaim": {"claimName": f"{ch.object_name}-spool"}}
    else:
        spool_volume = {"emptyDir": {"sizeLimit": release.spool["sizeLimit"]}}
    pod: Json = {
        "serviceAccountName": release.service_account_name,
        "automountServiceAccountToken": release.automount_service_account_token,
    }
    if release.image_pull_secrets:
        pod["imagePullSecrets"] = copy.deepcopy(release.image_pull_secrets)
    pod |= {
        "terminationGracePeriodSeconds": 30,
        "securityContext": copy.deepcopy(release.pod_security_context),
        "containers": [container],
        "volumes": [
            {"name": "spool", **spool_volume},
            {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
        ],
    }
    for key in ("nodeSelector", "tolerations", "affinity"):
        if s.get(key):
            pod[key] = copy.deepcopy(s[key])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": ch.object_name, "labels": _labels(release, ch)},
        "spec": {
            "replicas": 0 if ch.paused else 1,
            "revisionHistoryLimit": 3,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {**release.selector_labels, CHANNEL_LABEL: ch.slug}},
            "template": {
                "metadata": {"labels": _labels(release, ch), "annotations": annotations},
                "spec": pod,
            },
        },
    }


def spool_claim(release: ReleaseConfig, ch: Channel) -> Json | None:
    """The spool's PersistentVolumeClaim when ``ingest.spool.persistence.enabled``, else None."""
    persistence = release.spool["persistence"]
    if not persistence["enabled"]:
        return None
    spec: Json = {"accessModes": ["ReadWriteOnce"]}
    if persistence.get("storageClass"):
        spec["storageClassName"] = persistence["storageClass"]
    spec["resources"] = {"requests": {"storage": persistence["size"]}}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": f"{ch.object_name}-spool", "labels": _labels(release, ch)},
        "spec": spec,
    }


def children(release: ReleaseConfig, spec: Mapping[str, Any]) -> list[Json]:
    """Every object the channel needs, in the order to apply them (claim and config first)."""
    ch = channel(release, spec)
    claim = spool_claim(release, ch)
    return [*([claim] if claim else []), configmap(release, ch), deployment(release, ch)]
