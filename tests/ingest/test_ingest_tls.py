"""TLS to the IRC server: verified against a CA we trust, refused otherwise."""

from __future__ import annotations

import ssl
import subprocess
import time
from pathlib import Path

import pytest
from ingest_process import IngestProcess
from test_ingest_stdout import synthetic

from tests.support.fake_twitch import FakeTwitch

pytestmark = pytest.mark.timeout(60)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1, made with the openssl command line tool."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_tls_with_a_trusted_ca(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with FakeTwitch(ssl_context=server_context(cert, key)) as twitch:
        ingest = IngestProcess(
            {
                "TWITCH_CHANNEL": "testchan",
                "IRC_PORT": str(twitch.port),
                "IRC_TLS": "on",
                "IRC_CA_FILE": str(cert),
            },
            tmp_path,
        )
        try:
            twitch.wait_for_joins(1)
            twitch.broadcast(synthetic(5))
            records = ingest.wait_records(5)
            assert [r["id"] for r in records] == [f"msg-{n}" for n in range(5)]
            assert any("(TLS)" in line for line in ingest.stderr)
        finally:
            assert ingest.stop() == 0


def test_tls_refuses_an_unverified_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with FakeTwitch(ssl_context=server_context(cert, key)) as twitch:
        ingest = IngestProcess(
            {"TWITCH_CHANNEL": "testchan", "IRC_PORT": str(twitch.port), "IRC_TLS": "on"},
            tmp_path,
        )
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if any("CERTIFICATE_VERIFY_FAILED" in line for line in ingest.stderr):
                    break
                time.sleep(0.1)
            assert any("CERTIFICATE_VERIFY_FAILED" in line for line in ingest.stderr)
            assert not any(client.channels for client in twitch.clients)
        finally:
            assert ingest.stop() == 0
