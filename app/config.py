"""Every chat server setting, read from the environment once and validated at start.

A bad value stops the process with one line naming the variable (``ConfigError``), so an
operator sees ``MAX_MESSAGE_LENGTH: expected an integer >= 1, got 'lots'`` instead of a
traceback ten minutes later. Tests build a ``Settings`` directly or pass overrides.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlparse

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line naming it."""


def _int(name: str, raw: str, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ConfigError(f"{name}: expected an integer {bound}, got {value}")
    return value


def _float(name: str, raw: str, minimum: float) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
    if not value >= minimum:  # also rejects NaN
        raise ConfigError(f"{name}: expected a number >= {minimum}, got {raw!r}")
    return value


def _redis_url(name: str, raw: str) -> str:
    parsed = urlparse(raw.strip())
    if parsed.scheme not in ("redis", "rediss", "unix") or not (parsed.hostname or parsed.path):
        raise ConfigError(f"{name}: expected redis://host:port/db, got {raw!r}")
    return raw.strip()


def _bootstrap(name: str, raw: str) -> str:
    servers = [s.strip() for s in raw.split(",") if s.strip()]
    if not servers:
        raise ConfigError(f"{name}: expected host:port[,host:port...], got {raw!r}")
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{name}: expected host:port[,host:port...], got {raw!r}")
    return ",".join(servers)


def _origins(name: str, raw: str) -> str | list[str]:
    value = raw.strip()
    if value == "*":
        return "*"
    origins = [o.strip() for o in value.split(",") if o.strip()]
    for origin in origins:
        parsed = urlparse(origin)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"{name}: expected '*' or comma-separated origins, got {origin!r}")
    return origins


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Settings:
    """The chat server's configuration; defaults are the embedded single-process mode."""

    host: str = "127.0.0.1"
    port: int = 5000
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    redis_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    kafka_topic: str = "twitch.chat"
    kafka_history_scan: int = 20000
    history_limit: int = 50
    max_message_length: int = 500
    rate_limit_messages: float = 5.0
    rate_limit_burst: int = 10
    cors_allowed_origins: str | list[str] | None = None
    worker_connections: int = 10000
    graceful_timeout: int = 25
    room_ttl_seconds: int = 86400
    presence_ttl_seconds: int = 15
    log_level: str = "INFO"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9101
    trusted_proxy_hops: int = 0
    max_connections_per_address: int = 50
    room_creation_per_minute: int = 10
    websocket_fast_path: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raise ``ConfigError`` on the first bad one."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}

        def read(name: str, attr: str, parse: Callable[[str, str], T]) -> None:
            raw = env.get(name)
            if raw is not None and raw.strip() != "":
                values[attr] = parse(name, raw)

        read("HOST", "host", lambda n, r: r.strip())
        read("PORT", "port", lambda n, r: _int(n, r, 1, 65535))
        read("SECRET_KEY", "secret_key", lambda n, r: r)
        read("REDIS_URL", "redis_url", _redis_url)
        read("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers", _bootstrap)
        read("KAFKA_TOPIC", "kafka_topic", _topic)
        read("KAFKA_HISTORY_SCAN", "kafka_history_scan", lambda n, r: _int(n, r, 0))
        read("HISTORY_LIMIT", "history_limit", lambda n, r: _int(n, r, 1, 10000))
        read("MAX_MESSAGE_LENGTH", "max_message_length", lambda n, r: _int(n, r, 1, 100000))
        read("RATE_LIMIT_MESSAGES", "rate_limit_messages", lambda n, r: _float(n, r, 0.01))
        read("RATE_LIMIT_BURST", "rate_limit_burst", lambda n, r: _int(n, r, 1))
        read("CORS_ALLOWED_ORIGINS", "cors_allowed_origins", _origins)
        read("WORKER_CONNECTIONS", "worker_connections", lambda n, r: _int(n, r, 1))
        read("GRACEFUL_TIMEOUT", "graceful_timeout", lambda n, r: _int(n, r, 1, 3600))
        read("ROOM_TTL_SECONDS", "room_ttl_seconds", lambda n, r: _int(n, r, 1))
        read("PRESENCE_TTL_SECONDS", "presence_ttl_seconds", lambda n, r: _int(n, r, 3, 3600))
        read("LOG_LEVEL", "log_level", _log_level)
        read("METRICS_HOST", "metrics_host", lambda n, r: r.strip())
        read("METRICS_PORT", "metrics_port", lambda n, r: _int(n, r, 1, 65535))
        read("TRUSTED_PROXY_HOPS", "trusted_proxy_hops", lambda n, r: _int(n, r, 0, 10))
        read(
            "MAX_CONNECTIONS_PER_ADDRESS",
            "max_connections_per_address",
            lambda n, r: _int(n, r, 0),
        )
        read(
            "ROOM_CREATION_PER_MINUTE",
            "room_creation_per_minute",
            lambda n, r: _int(n, r, 1, 100000),
        )
        port = values.get("port", cls.port)
        if values.get("metrics_port", cls.metrics_port) == port:
            raise ConfigError(f"METRICS_PORT: must differ from PORT ({port}), got {port}")
        read("WEBSOCKET_FAST_PATH", "websocket_fast_path", _switch)
        return cls(**values)

    @property
    def presence_heartbeat_seconds(self) -> float:
        """How often a replica refreshes its members' presence entries (and prunes ghosts)."""
        return self.presence_ttl_seconds / 3

    @property
    def presence_entry_seconds(self) -> float:
        """An entry's lifetime after its last refresh. A crashed replica's last refresh was at
        most one heartbeat before the crash, and the pruning replica notices within one more
        heartbeat, so ghosts are gone everywhere within ``PRESENCE_TTL_SECONDS``."""
        return self.presence_ttl_seconds - self.presence_heartbeat_seconds


def _topic(name: str, raw: str) -> str:
    topic = raw.strip()
    if not topic or len(topic) > 249 or not all(c.isalnum() or c in "._-" for c in topic):
        raise ConfigError(f"{name}: expected a Kafka topic name ([A-Za-z0-9._-]), got {raw!r}")
    return topic


def _switch(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("on", "true", "1"):
        return True
    if value in ("off", "false", "0"):
        return False
    raise ConfigError(f"{name}: expected on or off, got {raw!r}")


def _log_level(name: str, raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{name}: expected one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return level
