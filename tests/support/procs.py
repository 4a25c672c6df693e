"""Start and stop real server processes for tests: the chat server and backing services.

Every server binds 127.0.0.1 on a free port and is stopped by the fixture that started it.
Backing services go through ``.ci/services.sh``, the same script ``make services`` runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "tests" / "artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: object, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``predicate()`` until it is truthy; fail the test with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class ChatServer:
    """``gunicorn --config python:app.gunicorn_conf 'app:create_app()'``: what ``make run`` runs.

    ``app`` names another WSGI app factory for gunicorn, for the few tests that need one.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        app: str = "app:create_app()",
    ) -> None:
        self.app = app
        self.port = port or free_port()
        self.metrics_port = free_port()
        self.env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(self.metrics_port),
            **(env or {}),
        }
        self.env.setdefault("SECRET_KEY", "test-secret")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix=f"chat-{self.port}-", suffix=".log")[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def internal_url(self) -> str:
        """``/metrics`` and ``/readyz``: the internal port, never the public one."""
        return f"http://127.0.0.1:{self.metrics_port}"

    def start(self, timeout: float = 20) -> ChatServer:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "--config",
                "python:app.gunicorn_conf",
                self.app,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so kill() can take the worker down with the master
        )
        wait_until(self._healthy, timeout, f"chat server on {self.port} (log {self.log_path})")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"chat server exited: {self.log()}")
        try:
            return requests.get(self.url + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def kill(self) -> None:
        """SIGKILL the master and its worker: a crash, no goodbye."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(self.proc.pid), signal.SIGKILL)
        self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


class Service:
    """A private Redis, Kafka or Prometheus started through ``.ci/services.sh``."""

    def __init__(self, name: str, **extra_env: str) -> None:
        self.name = name
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"{name}-")
        port_var = {"redis": "REDIS_PORT", "kafka": "KAFKA_PORT", "prometheus": "PROMETHEUS_PORT"}
        self.env = {**os.environ, port_var[name]: str(self.port), "SERVICES_DIR": self.dir}
        if name == "kafka":
            self.env["KAFKA_CONTROLLER_PORT"] = str(free_port())
        self.env.update(extra_env)

    def _run(self, action: str) -> None:
        subprocess.run(
            [str(ROOT / ".ci" / "services.sh"), action, self.name],
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> Service:
        self._run("start")
        return self

    def stop(self) -> None:
        self._run("stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
