"""Each bad setting stops the server at start with one line naming it."""

from __future__ import annotations

import os
import subprocess

import pytest

from app.config import ConfigError, Settings
from tests.support.procs import ROOT, VENV_BIN

BAD_SETTINGS = [
    ("PORT", "http"),
    ("PORT", "70000"),
    ("REDIS_URL", "localhost:6379"),
    ("KAFKA_BOOTSTRAP_SERVERS", "no-port"),
    ("KAFKA_TOPIC", "bad topic"),
    ("HISTORY_LIMIT", "0"),
    ("MAX_MESSAGE_LENGTH", "lots"),
    ("WEBSOCKET_FAST_PATH", "maybe"),
    ("RATE_LIMIT_MESSAGES", "-1"),
    ("RATE_LIMIT_MESSAGES", "nan"),
    ("RATE_LIMIT_BURST", "1.5"),
    ("CORS_ALLOWED_ORIGINS", "example.com"),
    ("WORKER_CONNECTIONS", "0"),
    ("GRACEFUL_TIMEOUT", "forever"),
    ("ROOM_TTL_SECONDS", "-5"),
    ("PRESENCE_TTL_SECONDS", "1"),
    ("LOG_LEVEL", "LOUD"),
    ("METRICS_PORT", "0"),
    ("METRICS_PORT", "5000"),  # the chat port's default: they must differ
    ("TRUSTED_PROXY_HOPS", "-1"),
    ("TRUSTED_PROXY_HOPS", "all"),
    ("MAX_CONNECTIONS_PER_ADDRESS", "many"),
    ("ROOM_CREATION_PER_MINUTE", "0"),
]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_bad_setting_is_one_line_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Settings.from_env({name: value})
    message = str(excinfo.value)
    assert message.startswith(f"{name}:") and "\n" not in message


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS[:3])
def test_server_refuses_to_start(name: str, value: str) -> None:
    env = {**os.environ, "PORT": "5999", name: value}
    result = subprocess.run(
        [str(VENV_BIN / "gunicorn"), "--config", "python:app.gunicorn_conf", "app:create_app()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"livechat: invalid setting: {lines[0].split(': ', 2)[2]}"]
    assert f": {name}:" in lines[0]


def test_defaults_match_the_documented_ones() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)
    assert settings.redis_url is None and settings.kafka_bootstrap_servers is None
    assert settings.kafka_topic == "twitch.chat"
    assert (settings.history_limit, settings.max_message_length) == (50, 500)
    assert (settings.rate_limit_messages, settings.rate_limit_burst) == (5.0, 10)
    assert settings.cors_allowed_origins is None
    assert settings.worker_connections == 10000
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 9101)
    assert settings.trusted_proxy_hops == 0
    assert settings.max_connections_per_address == 50
    assert settings.room_creation_per_minute == 10
