"""Every setting of the ingest, read and validated once at start.

``Settings.from_env`` raises :class:`ConfigError` with one line naming the variable for
anything missing or malformed, so the process stops before it opens a socket. The Twitch
token (``IRC_AUTH``) is read from the real environment only, never from the env file, and is
never part of a message, a log line or ``repr``.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_LOGIN = re.compile(r"^[a-z0-9_]{1,25}$")
_HOST = re.compile(r"^[A-Za-z0-9.\-:\[\]]+$")
_TOPIC = re.compile(r"^[A-Za-z0-9._\-]{1,249}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR"}
_COMPRESSIONS = {"none", "gzip", "snappy", "lz4", "zstd"}
ALIASES = {
    "IRC_SERVER": "MY_SERVER",
    "IRC_PORT": "MY_PORT",
    "IRC_NICKNAME": "MY_NICKNAME",
    "IRC_AUTH": "MY_AUTH",
}
"""The relay's older names, read when the IRC_ one is unset."""


class ConfigError(Exception):
    """A missing or malformed setting; ``str()`` is one line that names it."""


def read_env_file(path: Path) -> dict[str, str]:
    """Read ``KEY=VALUE`` lines (``#`` comments, blank lines, optional quotes, ``export``)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigError(f"{path.name}:{number}: expected KEY=VALUE")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


class _Reader:
    """Looks settings up in the environment first, then in the env file."""

    def __init__(self, environ: Mapping[str, str], file_values: Mapping[str, str]) -> None:
        self.environ = environ
        self.file_values = file_values

    def raw(self, name: str) -> tuple[str, str] | None:
        """(name actually set, value) for ``name`` or its alias; empty counts as unset."""
        for candidate in (name, ALIASES.get(name)):
            if candidate is None:
                continue
            value = self.environ.get(candidate)
            if value is None:
                value = self.file_values.get(candidate)
            if value is not None and value.strip() != "":
                return candidate, value.strip()
        return None

    def text(self, name: str, default: str | None = None) -> str | None:
        found = self.raw(name)
        return default if found is None else found[1]

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        found = self.raw(name)
        if found is None:
            return default
        key, value = found
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{key} must be an integer, got {value!r}") from None
        if not minimum <= number <= maximum:
            raise ConfigError(f"{key} must be between {minimum} and {maximum}, got {number}")
        return number

    def seconds(self, name: str, default: float, minimum: float) -> float:
        found = self.raw(name)
        if found is None:
            return default
        key, value = found
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{key} must be a number of seconds, got {value!r}") from None
        if not minimum <= number < 1e7:
            raise ConfigError(f"{key} must be at least {minimum} seconds, got {value}")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        found = self.raw(name)
        if found is None:
            return default
        key, value = found
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(f"{key} must be one of on/off, true/false, 1/0, got {value!r}")


@dataclass(frozen=True)
class Settings:
    """The ingest's settings; docs/configuration.md describes each one."""

    channel: str
    irc_server: str = "irc.chat.twitch.tv"
    irc_port: int = 6697
    irc_tls: bool = True
    irc_ca_file: str | None = None
    nickname: str = "justinfan12345"
    anonymous: bool = True
    token: str | None = field(default=None, repr=False)
    irc_ping_interval: float = 60.0
    irc_read_timeout: float = 90.0
    irc_reconnect_max_delay: float = 60.0
    kafka_bootstrap_servers: tuple[str, ...] = ()
    kafka_topic: str = "twitch.chat"
    kafka_compression: str = "gzip"
    kafka_linger_ms: int = 20
    kafka_max_unacked: int = 5000
    queue_max_records: int = 10000
    spool_dir: Path = Path(tempfile.gettempdir()) / "livechat-ingest-spool"
    spool_max_bytes: int = 1 << 30
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9102
    shutdown_timeout: float = 10.0
    log_level: str = "INFO"

    @property
    def kafka_enabled(self) -> bool:
        """With no bootstrap servers the ingest writes JSON lines to stdout instead."""
        return bool(self.kafka_bootstrap_servers)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = None
    ) -> Settings:
        """Read and validate every setting; a missing ``env_file`` is fine (it is optional)."""
        environ = os.environ if environ is None else environ
        file_values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            # The original relay kept MY_AUTH in env.env (git-ignored, local runs only), so the
            # token is accepted there too; like every secret it is never logged or echoed.
            file_values = read_env_file(Path(env_file))
        env = _Reader(environ, file_values)

        raw_channel = env.text("TWITCH_CHANNEL")
        if raw_channel is None:
            raise ConfigError("TWITCH_CHANNEL is required (the channel login, without '#')")
        channel = raw_channel.lower()
        if not _LOGIN.match(channel):
            raise ConfigError(
                f"TWITCH_CHANNEL must be a Twitch login (letters, digits, _; at most 25; "
                f"no '#'), got {raw_channel!r}"
            )

        server = env.text("IRC_SERVER", "irc.chat.twitch.tv") or ""
        if not _HOST.match(server):
            raise ConfigError(f"IRC_SERVER must be a host name, got {server!r}")
        port = env.integer("IRC_PORT", 6697, 1, 65535)
        tls = env.boolean("IRC_TLS", port == 6697)
        ca_file = env.text("IRC_CA_FILE")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigError(f"IRC_CA_FILE must be a readable file, got {ca_file!r}")

        raw_nick = env.text("IRC_NICKNAME")
        found_auth = env.raw("IRC_AUTH")
        token = found_auth[1] if found_auth else None
        if raw_nick is None:
            if found_auth is not None:
                raise ConfigError(f"{found_auth[0]} is set but IRC_NICKNAME is not")
            nickname, anonymous = f"justinfan{secrets.randbelow(90000) + 10000}", True
        else:
            nickname, anonymous = raw_nick.lower(), False
            if not _LOGIN.match(nickname):
                raise ConfigError(f"IRC_NICKNAME must be a Twitch login, got {raw_nick!r}")
        if found_auth is not None and (
            token is None
            or not token.startswith("oauth:")
            or len(token) <= len("oauth:")
            or any(c.isspace() for c in token)
        ):
            raise ConfigError(f"{found_auth[0]} must look like oauth:<token> (value redacted)")

        ping = env.seconds("IRC_PING_INTERVAL", 60.0, 0.1)
        read_timeout = env.seconds("IRC_READ_TIMEOUT", 90.0, 0.2)
        if read_timeout <= ping:
            raise ConfigError(
                f"IRC_READ_TIMEOUT must be longer than IRC_PING_INTERVAL ({ping:g} s), "
                f"got {read_timeout:g}"
            )
        reconnect_max = env.seconds("IRC_RECONNECT_MAX_DELAY", 60.0, 0.1)

        bootstrap: tuple[str, ...] = ()
        raw_bootstrap = env.text("KAFKA_BOOTSTRAP_SERVERS")
        if raw_bootstrap is not None:
            bootstrap = tuple(s.strip() for s in raw_bootstrap.split(",") if s.strip())
            for server_entry in bootstrap:
                host, sep, port_text = server_entry.rpartition(":")
                if (
                    not sep
                    or not host
                    or not _HOST.match(host)
                    or not port_text.isdigit()
                    or not (0 < int(port_text) < 65536)
                ):
                    raise ConfigError(
                        f"KAFKA_BOOTSTRAP_SERVERS must be host:port[,host:port...], "
                        f"got {raw_bootstrap!r}"
                    )
        topic = env.text("KAFKA_TOPIC", "twitch.chat") or ""
        if not _TOPIC.match(topic) or topic in {".", ".."}:
            raise ConfigError(f"KAFKA_TOPIC must be a Kafka topic name, got {topic!r}")
        compression = (env.text("KAFKA_COMPRESSION", "gzip") or "").lower()
        if compression not in _COMPRESSIONS:
            raise ConfigError(
                f"KAFKA_COMPRESSION must be one of {', '.join(sorted(_COMPRESSIONS))}, "
                f"got {compression!r}"
            )
        if not _codec_available(compression):
            raise ConfigError(
                f"KAFKA_COMPRESSION={compression} needs a Python package that is not installed"
            )
        linger = env.integer("KAFKA_LINGER_MS", 20, 0, 60000)
        max_unacked = env.integer("KAFKA_MAX_UNACKED", 5000, 1, 1_000_000)
        queue_max = env.integer("QUEUE_MAX_RECORDS", 10000, 1, 10_000_000)

        spool_dir = Path(
            env.text("SPOOL_DIR") or Path(tempfile.gettempdir()) / f"livechat-ingest-{channel}"
        )
        if bootstrap:  # the spool only backs the Kafka sink
            try:
                spool_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"SPOOL_DIR {str(spool_dir)!r} cannot be created: {exc}"
                ) from None
            if not os.access(spool_dir, os.W_OK):
                raise ConfigError(f"SPOOL_DIR {str(spool_dir)!r} is not writable")
        spool_max = env.integer("SPOOL_MAX_BYTES", 1 << 30, 0, 1 << 50)

        metrics_host = env.text("METRICS_HOST", "0.0.0.0") or ""
        if not _HOST.match(metrics_host):
            raise ConfigError(f"METRICS_HOST must be an address, got {metrics_host!r}")
        metrics_port = env.integer("METRICS_PORT", 9102, 1, 65535)
        shutdown = env.seconds("SHUTDOWN_TIMEOUT", 10.0, 0.0)
        log_level = (env.text("LOG_LEVEL", "INFO") or "").upper()
        if log_level not in _LOG_LEVELS:
            raise ConfigError(
                f"LOG_LEVEL must be one of {', '.join(sorted(_LOG_LEVELS))}, got {log_level!r}"
            )

        return cls(
            channel=channel,
            irc_server=server,
            irc_port=port,
            irc_tls=tls,
            irc_ca_file=ca_file,
            nickname=nickname,
            anonymous=anonymous,
            token=token,
            irc_ping_interval=ping,
            irc_read_timeout=read_timeout,
            irc_reconnect_max_delay=reconnect_max,
            kafka_bootstrap_servers=bootstrap,
            kafka_topic=topic,
            kafka_compression=compression,
            kafka_linger_ms=linger,
            kafka_max_unacked=max_unacked,
            queue_max_records=queue_max,
            spool_dir=spool_dir,
            spool_max_bytes=spool_max,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            shutdown_timeout=shutdown,
            log_level=log_level,
        )


def _codec_available(compression: str) -> bool:
    """kafka-python only ships gzip support itself; the others need an extra package."""
    if compression in {"none", "gzip"}:
        return True
    from kafka import codec

    checks = {"snappy": codec.has_snappy, "lz4": codec.has_lz4, "zstd": codec.has_zstd}
    return bool(checks[compression]())
