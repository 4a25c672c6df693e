"""The operator's settings: its own environment, plus the release configuration from the chart.

``OperatorSettings.from_env`` reads and validates everything once at start and raises
:class:`ConfigError` with one line naming the setting, so a bad setting stops the process before
it talks to the API server. The release configuration (``OPERATOR_RELEASE_CONFIG``, a JSON file
the chart renders into the ``<release>-operator`` ConfigMap) carries what the chart knows and a
TwitchChannel does not: object name prefix, labels, image, security contexts, Kafka, spool,
the token's Secret and the ``ingest.defaults`` every channel starts from.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HOST = re.compile(r"^[A-Za-z0-9.\-:\[\]]+$")
_PLACEHOLDERS = {"pod_ip", "port", "namespace", "name", "login", "slug"}
DEFAULT_METRICS_URL = "http://{pod_ip}:{port}/metrics"

Json = dict[str, Any]


class ConfigError(Exception):
    """A missing or malformed setting; ``str()`` is one line that names it."""


@dataclass(frozen=True)
class ReleaseConfig:
    """What the chart renders for every channel; see ``charts/livechat/templates/operator.yaml``."""

    fullname: str
    labels: Mapping[str, str]
    selector_labels: Mapping[str, str]
    image: str
    image_pull_policy: str
    image_pull_secrets: list[Json]
    service_account_name: str
    automount_service_account_token: bool
    pod_security_context: Json
    security_context: Json
    kafka_bootstrap_servers: str
    kafka_topic: str
    metrics_port: int
    spool: Json
    auth: Json
    defaults: Json

    @classmethod
    def from_json(cls, doc: Any, source: str = "OPERATOR_RELEASE_CONFIG") -> ReleaseConfig:
        """Validate the chart's JSON document; every error names the key."""
        if not isinstance(doc, dict):
            raise ConfigError(f"{source} must be a JSON object")

        def need(key: str, kind: type | tuple[type, ...]) -> Any:
            value = doc.get(key)
            if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
                raise ConfigError(f"{source}: {key} is missing or not a {_kind_name(kind)}")
            return value

        fullname = need("fullname", str)
        if not _NAME.match(fullname) or len(fullname) > 63:
            raise ConfigError(f"{source}: fullname must be a DNS label, got {fullname!r}")
        labels, selector = need("labels", dict), need("selectorLabels", dict)
        for key, mapping in (("labels", labels), ("selectorLabels", selector)):
            if not all(isinstance(v, str) for v in mapping.values()):
                raise ConfigError(f"{source}: {key} values must be strings")
        spool = need("spool", dict)
        for key, kind in (("mountPath", str), ("maxBytes", int), ("sizeLimit", str)):
            if not isinstance(spool.get(key), kind):
                raise ConfigError(f"{source}: spool.{key} is missing or not a {_kind_name(kind)}")
        persistence = spool.get("persistence")
        if not isinstance(persistence, dict) or not isinstance(persistence.get("enabled"), bool):
            raise ConfigError(f"{source}: spool.persistence.enabled must be true or false")
        auth = need("auth", dict)
        port = need("metricsPort", int)
        if not 1 <= port <= 65535:
            raise ConfigError(f"{source}: metricsPort must be between 1 and 65535, got {port}")
        return cls(
            fullname=fullname,
            labels=labels,
            selector_labels=selector,
            image=need("image", str),
            image_pull_policy=need("imagePullPolicy", str),
            image_pull_secrets=need("imagePullSecrets", list),
            service_account_name=need("serviceAccountName", str),
            automount_service_account_token=need("automountServiceAccountToken", bool),
            pod_security_context=need("podSecurityContext", dict),
            security_context=need("securityContext", dict),
            kafka_bootstrap_servers=need("kafkaBootstrapServers", str),
            kafka_topic=need("kafkaTopic", str),
            metrics_port=port,
            spool=spool,
            auth=auth,
            defaults=need("defaults", dict),
        )

    @property
    def auth_secret_name(self) -> str:
        return str(self.auth.get("secretName") or "")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", int: "integer", dict: "object", list: "list", bool: "boolean"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


@dataclass(frozen=True)
class OperatorSettings:
    """The operator process's settings; docs/operator.md lists each one."""

    namespace: str
    release: ReleaseConfig = field(repr=False)
    status_interval: float = 15.0
    ingest_metrics_url: str = DEFAULT_METRICS_URL
    ingest_metrics_timeout: float = 3.0
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9103

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OperatorSettings:
        env = os.environ if environ is None else environ

        def text(name: str, default: str | None = None) -> str | None:
            value = env.get(name, "").strip()
            return value or default

        namespace = text("OPERATOR_NAMESPACE")
        if namespace is None:
            raise ConfigError("OPERATOR_NAMESPACE is required (the namespace the operator watches)")
        if not _NAME.match(namespace):
            raise ConfigError(f"OPERATOR_NAMESPACE must be a namespace name, got {namespace!r}")

        path = text("OPERATOR_RELEASE_CONFIG")
        if path is None:
            raise ConfigError(
                "OPERATOR_RELEASE_CONFIG is required (the chart's release.json for the ingest)"
            )
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"OPERATOR_RELEASE_CONFIG {path!r} cannot be read: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"OPERATOR_RELEASE_CONFIG {path!r} is not JSON: {exc}") from None
        release = ReleaseConfig.from_json(doc)

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
            if not low <= value <= high:
                raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {raw}")
            return value

        interval = number("OPERATOR_STATUS_INTERVAL", 15.0, 1.0, 3600.0)
        timeout = number("OPERATOR_INGEST_METRICS_TIMEOUT", 3.0, 0.1, 60.0)
        url = text("OPERATOR_INGEST_METRICS_URL", DEFAULT_METRICS_URL) or DEFAULT_METRICS_URL
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"OPERATOR_INGEST_METRICS_URL must be an http(s) URL, got {url!r}")
        unknown = set(re.findall(r"{([^{}]*)}", url)) - _PLACEHOLDERS
        if unknown:
            raise ConfigError(
                f"OPERATOR_INGEST_METRICS_URL has unknown placeholders {sorted(unknown)}; "
                f"use {', '.join(sorted(_PLACEHOLDERS))}"
            )
        metrics_host = text("OPERATOR_METRICS_HOST", "0.0.0.0") or ""
        if not _HOST.match(metrics_host):
            raise ConfigError(f"OPERATOR_METRICS_HOST must be an address, got {metrics_host!r}")
        raw_port = text("OPERATOR_METRICS_PORT", "9103") or ""
        if not raw_port.isdigit() or not 1 <= int(raw_port) <= 65535:
            raise ConfigError(f"OPERATOR_METRICS_PORT must be a port (1-65535), got {raw_port!r}")
        return cls(
            namespace=namespace,
            release=release,
            status_interval=interval,
            ingest_metrics_url=url,
            ingest_metrics_timeout=timeout,
            metrics_host=metrics_host,
            metrics_port=int(raw_port),
        )
