"""Runs ``python -m ingest`` as a real subprocess for the integration tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.procs import ROOT as REPO_ROOT
from tests.support.procs import free_port


class IngestProcess:
    """One ingest process; collects its stdout records and stderr log lines."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.metrics_port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(self.metrics_port),
            "SPOOL_DIR": str(tmp_path / "spool"),
            "IRC_SERVER": "127.0.0.1",
            "SHUTDOWN_TIMEOUT": "10",
            **env,
        }
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingest"],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _pump(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def records(self) -> list[dict[str, Any]]:
        """The JSON records written to stdout so far (embedded mode)."""
        return [json.loads(line) for line in list(self.stdout) if line.startswith("{")]

    def wait_records(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.stdout) < count:
            self._check_alive()
            time.sleep(0.05)
        return self.records()

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            log = "\n".join(self.stderr[-30:])
            raise AssertionError(f"ingest exited with {self.proc.returncode}:\n{log}")

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.metrics_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        """One sample's value from /metrics (summed over unnamed labels), 0 when absent."""
        _, text = self.get("/metrics")
        total = 0.0
        for line in text.splitlines():
            match = re.match(r"^([a-zA-Z_:]+)(\{[^}]*\})? (\S+)$", line)
            if not match or match.group(1) != name:
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(match.group(3))
        return total

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("ingest never became ready:\n" + "\n".join(self.stderr[-30:]))

    def wait_metric(
        self, name: str, at_least: float, timeout: float = 30.0, **labels: str
    ) -> float:
        deadline = time.monotonic() + timeout
        value = 0.0
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                value = self.metric(name, **labels)
            except OSError:  # not listening yet
                value = 0.0
            if value >= at_least:
                return value
            time.sleep(0.1)
        raise AssertionError(f"{name}{labels} stayed at {value}, expected >= {at_least}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        return self.proc.returncode

    def wait_exit(self, timeout: float = 20.0) -> int:
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return code
