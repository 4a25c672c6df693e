"""Settings: defaults, aliases, the env file, and one clear line for each bad setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ingest.config import ConfigError, Settings
from tests.support.procs import ROOT as REPO_ROOT

BASE = {"TWITCH_CHANNEL": "somechannel"}


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env(BASE)
    assert settings.channel == "somechannel"
    assert (settings.irc_server, settings.irc_port, settings.irc_tls) == (
        "irc.chat.twitch.tv",
        6697,
        True,
    )
    assert settings.anonymous and settings.nickname.startswith("justinfan")
    assert settings.nickname[len("justinfan") :].isdigit()
    assert settings.token is None and not settings.kafka_enabled
    assert (settings.kafka_topic, settings.metrics_port) == ("twitch.chat", 9102)


def test_tls_follows_the_port_unless_set() -> None:
    assert not Settings.from_env({**BASE, "IRC_PORT": "6667"}).irc_tls
    assert Settings.from_env({**BASE, "IRC_PORT": "6667", "IRC_TLS": "on"}).irc_tls
    assert not Settings.from_env({**BASE, "IRC_TLS": "false"}).irc_tls


def test_aliases_and_precedence() -> None:
    env = {
        **BASE,
        "MY_SERVER": "irc.example.org",
        "MY_PORT": "6667",
        "MY_NICKNAME": "MyBot",
        "MY_AUTH": "oauth:abc",
        "IRC_PORT": "7000",
    }
    settings = Settings.from_env(env)
    assert settings.irc_server == "irc.example.org"
    assert settings.irc_port == 7000  # the IRC_ name wins over its alias
    assert (settings.nickname, settings.anonymous, settings.token) == ("mybot", False, "oauth:abc")
    assert "oauth:abc" not in repr(settings)


def test_env_file_and_environment_precedence(tmp_path: Path) -> None:
    env_file = tmp_path / "env.env"
    env_file.write_text(
        "# local settings\nexport TWITCH_CHANNEL=fromfile\nKAFKA_TOPIC='file.topic'\n"
        "MY_NICKNAME=filebot\n"
    )
    settings = Settings.from_env({"KAFKA_TOPIC": "env.topic"}, env_file=env_file)
    assert settings.channel == "fromfile"
    assert settings.kafka_topic == "env.topic"
    assert settings.nickname == "filebot"
    assert Settings.from_env(BASE, env_file=tmp_path / "missing.env").channel == "somechannel"


def test_token_from_the_env_file_as_the_original_relay_kept_it(tmp_path: Path) -> None:
    env_file = tmp_path / "env.env"
    env_file.write_text("TWITCH_CHANNEL=x\nMY_NICKNAME=bot\nMY_AUTH=oauth:filetoken\n")
    settings = Settings.from_env({}, env_file=env_file)
    assert settings.token == "oauth:filetoken"
    assert "filetoken" not in repr(settings)
    # The environment still wins over the file.
    overridden = Settings.from_env({"IRC_AUTH": "oauth:envtoken"}, env_file=env_file)
    assert overridden.token == "oauth:envtoken"


BAD = [
    ({"TWITCH_CHANNEL": ""}, "TWITCH_CHANNEL"),  # empty counts as unset
    ({"TWITCH_CHANNEL": "#somechannel"}, "TWITCH_CHANNEL"),
    ({"TWITCH_CHANNEL": "a" * 26}, "TWITCH_CHANNEL"),
    ({"IRC_SERVER": "bad host"}, "IRC_SERVER"),
    ({"IRC_PORT": "http"}, "IRC_PORT"),
    ({"MY_PORT": "70000"}, "MY_PORT"),
    ({"IRC_TLS": "maybe"}, "IRC_TLS"),
    ({"IRC_CA_FILE": "/nonexistent/ca.pem"}, "IRC_CA_FILE"),
    ({"IRC_NICKNAME": "bad nick"}, "IRC_NICKNAME"),
    ({"IRC_AUTH": "oauth:x"}, "IRC_AUTH"),
    ({"IRC_NICKNAME": "bot", "IRC_AUTH": "sekrit-no-prefix"}, "IRC_AUTH"),
    ({"IRC_PING_INTERVAL": "-1"}, "IRC_PING_INTERVAL"),
    ({"IRC_READ_TIMEOUT": "30"}, "IRC_READ_TIMEOUT"),  # not longer than the 60 s ping
    ({"IRC_RECONNECT_MAX_DELAY": "soon"}, "IRC_RECONNECT_MAX_DELAY"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "localhost"}, "KAFKA_BOOTSTRAP_SERVERS"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "a:1,b:x"}, "KAFKA_BOOTSTRAP_SERVERS"),
    ({"KAFKA_TOPIC": "bad topic"}, "KAFKA_TOPIC"),
    ({"KAFKA_COMPRESSION": "brotli"}, "KAFKA_COMPRESSION"),
    ({"KAFKA_LINGER_MS": "-5"}, "KAFKA_LINGER_MS"),
    ({"KAFKA_MAX_UNACKED": "0"}, "KAFKA_MAX_UNACKED"),
    ({"QUEUE_MAX_RECORDS": "lots"}, "QUEUE_MAX_RECORDS"),
    ({"SPOOL_MAX_BYTES": "1GB"}, "SPOOL_MAX_BYTES"),
    ({"SPOOL_DIR": "/proc/livechat", "KAFKA_BOOTSTRAP_SERVERS": "k:9092"}, "SPOOL_DIR"),
    ({"METRICS_PORT": "0"}, "METRICS_PORT"),
    ({"METRICS_HOST": "every where"}, "METRICS_HOST"),
    ({"SHUTDOWN_TIMEOUT": "x"}, "SHUTDOWN_TIMEOUT"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
]


@pytest.mark.parametrize(("env", "name"), BAD, ids=[name for _, name in BAD])
def test_bad_setting_names_itself(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**BASE, **env})
    message = str(info.value)
    assert message.startswith(name)
    assert "\n" not in message
    assert "sekrit" not in message


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({}, "TWITCH_CHANNEL"),
        ({**BASE, "IRC_PORT": "http"}, "IRC_PORT"),
        ({**BASE, "KAFKA_BOOTSTRAP_SERVERS": "nocolon"}, "KAFKA_BOOTSTRAP_SERVERS"),
        ({**BASE, "IRC_NICKNAME": "bot", "IRC_AUTH": "sekrit"}, "IRC_AUTH"),
    ],
)
def test_the_process_stops_with_one_line_naming_the_setting(env: dict[str, str], name: str):
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "--env-file", "does-not-exist.env"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"ingest: configuration error: {name}")
    assert "sekrit" not in result.stderr
