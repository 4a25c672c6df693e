"""The processes the fan-out benchmark runs and measures: Redis, livechat replicas, peer replicas.

Every server process is pinned to ``SERVER_CPU`` with ``taskset`` (the load generator runs on
another core), started in its own session so a stop takes its children too, and measured from
``/proc``: CPU seconds (user + system, all threads) and resident memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from io import BytesIO
from pathlib import Path

from bench import kill_group
from tests.support.procs import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PEER = ROOT / "bench" / "peer"
BASELINES = ROOT / ".tools" / "bench-baseline"
SERVER_CPU = 0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def pinned(command: Sequence[str]) -> list[str]:
    """``command`` on ``SERVER_CPU`` when the machine has a core to spare for the load."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(SERVER_CPU), *command]
    return list(command)


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_rss_kib(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB


def core_busy_seconds(cpu: int) -> float:
    """Non-idle time of one core so far, whoever used it (``/proc/stat``)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            ticks = [int(v) for v in line.split()[1:]]
            return (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS  # less idle, iowait
    return 0.0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


class Process:
    """One server process; ``measured_pid`` is the one doing the work (gunicorn's worker)."""

    def __init__(self, name: str, command: list[str], env: Mapping[str, str], cwd: Path) -> None:
        self.name = name
        self.command = command
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = RESULTS / f"fanout-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.measured_pid: int | None = None

    def start(self) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def exited(self) -> bool:
        return self.proc is None or self.proc.poll() is not None

    def cpu_seconds(self) -> float:
        assert self.measured_pid is not None
        return proc_cpu_seconds(self.measured_pid)

    def rss_kib(self) -> int:
        assert self.measured_pid is not None
        return proc_rss_kib(self.measured_pid)

    def stop(self) -> None:
        kill_group(self.proc)

    def log_tail(self, lines: int = 12) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Redis(Process):
    """A private, non-persistent redis-server on a free port, pinned with the servers."""

    def __init__(self) -> None:
        self.port = free_port()
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no", "--protected-mode", "no"]
        super().__init__("redis", pinned(command), os.environ, ROOT)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server not found (make tools installs it)")
        super().start()
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exited():
                raise RuntimeError(f"redis-server exited: {self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                self.measured_pid = self.proc.pid
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not open its port")

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            if not sock.recv(64).startswith(b"+OK"):
                raise RuntimeError("FLUSHALL failed")


class Replica(Process):
    """One chat server replica answering ``GET /healthz`` on ``port``."""

    def __init__(self, name: str, command: list[str], env: Mapping[str, str], cwd: Path) -> None:
        self.port = free_port()
        super().__init__(name, pinned(command), {**env, "PORT": str(self.port)}, cwd)

    def start(self, timeout: float = 30) -> None:
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exited():
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r,
            ):
                if r.status == 200:
                    self.measured_pid = self.find_worker()
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not healthy after {timeout} s: {self.log_tail()}")

    def find_worker(self) -> int:
        assert self.proc is not None
        return self.proc.pid


class LivechatReplica(Replica):
    """``gunicorn --config python:app.gunicorn_conf 'app:create_app()'``, as ``make run``."""

    def __init__(self, name: str, command: list[str], env: Mapping[str, str], cwd: Path) -> None:
        # Two replicas on one host: each needs its own internal (metrics) port.
        super().__init__(name, command, {**env, "METRICS_PORT": str(free_port())}, cwd)

    def find_worker(self) -> int:
        assert self.proc is not None
        workers = children(self.proc.pid)
        if len(workers) != 1:
            raise RuntimeError(f"{self.name}: expected one gunicorn worker, found {workers}")
        return workers[0]


def livechat_env(redis_url: str) -> dict[str, str]:
    """The flood limit (5/s, burst 10 per connection) would refuse the benchmark's senders."""
    return {
        **os.environ,
        "HOST": "127.0.0.1",
        "SECRET_KEY": "bench",
        "REDIS_URL": redis_url,
        "RATE_LIMIT_MESSAGES": "100000",
        "RATE_LIMIT_BURST": "100000",
        "LOG_LEVEL": "WARNING",
        "WORKER_CONNECTIONS": "20000",
        # every benchmark client comes from 127.0.0.1
        "MAX_CONNECTIONS_PER_ADDRESS": "0",
    }


def livechat_replicas(
    redis_url: str, label: str, source: Path = ROOT, count: int = 2
) -> list[Replica]:
    """``count`` replicas of the livechat checked out at ``source`` (the work tree, or a
    baseline)."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    command = [gunicorn, "--config", "python:app.gunicorn_conf", "app:create_app()"]
    env = livechat_env(redis_url)
    env["PYTHONPATH"] = str(source)  # a baseline's ``app`` before the editable install's
    return [LivechatReplica(f"{label}-{i}", command, env, source) for i in range(1, count + 1)]


def peer_replicas(redis_url: str, count: int = 2) -> list[Replica]:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node not found: the peer needs Node.js >= 18 (apt-get install nodejs)")
    ensure_peer_modules()
    env = {**os.environ, "HOST": "127.0.0.1", "REDIS_URL": redis_url, "NODE_ENV": "production"}
    return [Replica(f"peer-{i}", [node, "server.js"], env, PEER) for i in range(1, count + 1)]


def ensure_peer_modules() -> None:
    """``npm ci`` into bench/peer/node_modules when the lock file changed since the last one."""
    lock = PEER / "package-lock.json"
    stamp = PEER / "node_modules" / ".bench-lock-sha256"
    wanted = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm not found: the peer needs it to install its pinned packages")
    print("bench fanout: npm ci in bench/peer", file=sys.stderr, flush=True)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PEER,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stamp.write_text(wanted)


def baseline_source(revision: str) -> Path:
    """The ``app`` package as of ``revision``, extracted once under .tools/bench-baseline/."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = BASELINES / commit[:12]
    if not (target / "app" / "__init__.py").exists():
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit, "app"], cwd=ROOT, capture_output=True
        )
        if archive.returncode:
            raise RuntimeError(f"git archive {revision}: {archive.stderr.decode().strip()}")
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(target, filter="data")
    return target
