"""Which gunicorn worker class serves livechat's WebSockets best (issue 2): measure, don't guess.

Two candidates, each in its own virtualenv under ``.tools/bench-venvs/`` because python-engineio
silently prefers gevent-websocket whenever it is importable:

* ``gevent``: ``pip install .`` only; the project's worker (``app.worker.GracefulGeventWorker``,
  gunicorn's plain gevent worker) with simple-websocket doing the WebSocket.
* ``gevent-websocket``: the same plus the gevent-websocket package, served by its
  ``GeventWebSocketWorker`` (``-k`` on gunicorn's command line), the classic tutorials' setup.

For each, one replica in embedded mode (no Redis), pinned to CPU 0 while this process, the load
generator, runs on CPU 1:

1. connections: ramp to ``CONNECTIONS`` idle Socket.IO clients (connected to the namespace, in no
   room), counting failures; the worker's RSS is read at every ``STEP_CONNECTIONS`` and its slope
   gives the memory per 1,000 idle connections;
2. messages: on a fresh server, ``MEMBERS`` clients in one room, ``SENDERS`` of them sending at
   doubling total rates; every member receives every message, so deliveries = messages x members.
   A rate is sustained when the load generator kept to it, every delivery arrived and p99 stayed
   under ``MAX_P99_SECONDS``; the ramp stops at the first rate that is not.

Full results and the servers' logs go to ``bench/results/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
import venv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import Row, kill_group
from bench.loadgen import (
    SocketIOClient,
    close_all,
    connect_clients,
    cpu_seconds,
    percentile,
    socketio_url,
)
from tests.support.procs import free_port

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".tools" / "bench-venvs"
RESULTS = ROOT / "bench" / "results"

CONNECTIONS = 5000
STEP_CONNECTIONS = 1000
CONNECT_CONCURRENCY = 100
MEMBERS = 50
SENDERS = 10
RATES = (25, 50, 100, 200, 400, 800, 1600)  # messages per second, all senders together
STEP_SECONDS = 3.0
GRACE_SECONDS = 3.0
MAX_P99_SECONDS = 0.5
#: Both candidates sustain this rate; their CPU cost per delivery is compared there.
REFERENCE_RATE = 400
#: Message ramps per candidate, alternated between candidates; the best one is reported.
ROUNDS = 2
SERVER_CPU = 0
LOADGEN_CPU = 1

#: The server's flood limit (5/s, burst 10) would refuse the benchmark's senders.
SERVER_ENV = {
    "HOST": "127.0.0.1",
    "SECRET_KEY": "bench",
    "RATE_LIMIT_MESSAGES": "1000",
    "RATE_LIMIT_BURST": "1000",
    "LOG_LEVEL": "WARNING",
    # every benchmark client comes from 127.0.0.1
    "MAX_CONNECTIONS_PER_ADDRESS": "0",
}

#: Run inside a candidate's venv: which WebSocket implementation engineio picked there.
PROBE = """
import json, importlib.metadata as md
from app import create_app
ws = create_app().extensions["socketio"].server.eio._async["websocket"]
simple = any(c.__name__ == "SimpleWebSocketWSGI" for c in ws.__mro__)
versions = {}
for dist in ("gunicorn", "gevent", "simple-websocket", "gevent-websocket", "python-engineio"):
    try:
        versions[dist] = md.version(dist)
    except md.PackageNotFoundError:
        pass
print(json.dumps({
    "websocket": "simple-websocket" if simple else "gevent-websocket",
    "class": f"{ws.__module__}.{ws.__qualname__}",
    "mro": [f"{c.__module__}.{c.__qualname__}" for c in ws.__mro__],
    "versions": versions,
}))
"""


@dataclass(frozen=True)
class Candidate:
    name: str
    extra_packages: tuple[str, ...]
    #: ``-k`` override; ``None`` keeps ``worker_class`` from ``app/gunicorn_conf.py``.
    worker_class: str | None

    @property
    def venv(self) -> Path:
        return VENVS / self.name

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


CANDIDATES = (
    Candidate("gevent", (), None),
    Candidate(
        "gevent-websocket",
        ("gevent-websocket>=0.10,<0.11",),
        "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
    ),
)


def log(message: str) -> None:
    print(f"bench workers: {message}", file=sys.stderr, flush=True)


# -- virtualenvs -------------------------------------------------------------------------------


PIP_INSTALL = ("install", "-q", "-c", "constraints.txt")


def ensure_venv(candidate: Candidate) -> None:
    """(Re)build the candidate's venv when pyproject.toml or its extra packages changed."""
    stamp = candidate.venv / ".bench-installed"
    with (ROOT / "pyproject.toml").open("rb") as f:
        dependencies = tomllib.load(f)["project"]["dependencies"]
    pins = (ROOT / "constraints.txt").read_text()  # the versions `make` and the image install
    wanted = hashlib.sha256(
        repr((dependencies, pins, candidate.extra_packages)).encode()
    ).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    log(f"building {candidate.venv.relative_to(ROOT)} (pip install . {candidate.extra_packages})")
    shutil.rmtree(candidate.venv, ignore_errors=True)
    venv.create(candidate.venv, with_pip=True)
    subprocess.run(
        [str(candidate.bin / "pip"), *PIP_INSTALL, ".", *candidate.extra_packages],
        cwd=ROOT,
        check=True,
    )
    stamp.write_text(wanted)


def probe(candidate: Candidate) -> dict[str, Any]:
    out = subprocess.run(
        [str(candidate.bin / "python"), "-c", PROBE],
        cwd=ROOT,
        env={**os.environ, **SERVER_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the server under test ---------------------------------------------------------------------


@dataclass
class Server:
    """One gunicorn master and its single worker, started from the candidate's venv."""

    candidate: Candidate
    log_path: Path
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    worker_pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        command = [str(self.candidate.bin / "gunicorn"), "--config", "python:app.gunicorn_conf"]
        if self.candidate.worker_class:
            command += ["-k", self.candidate.worker_class]
        command.append("app:create_app()")
        if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
            command = ["taskset", "-c", str(SERVER_CPU), *command]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env={
                **os.environ,
                **SERVER_ENV,
                "PORT": str(self.port),
                "METRICS_PORT": str(self.metrics_port),
            },
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url + "/healthz", timeout=1) as response,
            ):
                if response.status == 200:
                    self.worker_pid = self._find_worker()
                    return
            time.sleep(0.1)
        raise RuntimeError(f"server not healthy after {timeout} s: {self.log_tail()}")

    def _find_worker(self) -> int:
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        pids = [int(p) for p in children.read_text().split()] if children.exists() else []
        if len(pids) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {pids}")
        return pids[0]

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.worker_pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS for the worker")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the worker so far."""
        fields = Path(f"/proc/{self.worker_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def connected_clients(self) -> int | None:
        """The server's own count (``livechat_connected_clients``)."""
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
            ) as response,
        ):
            for line in response.read().decode().splitlines():
                if line.startswith("livechat_connected_clients "):
                    return int(float(line.split()[1]))
        return None

    def stop(self) -> None:
        kill_group(self.proc)

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


# -- phase 1: connections and memory -----------------------------------------------------------


async def measure_connections(server: Server) -> dict[str, Any]:
    url = socketio_url(server.url)
    warmup, failures = await connect_clients(url, 10)
    headers = warmup[0].upgrade_headers if warmup else {}
    await close_all(warmup)
    if not warmup:
        return {"error": f"no connection succeeded: {dict(failures)}", "upgrade_headers": headers}
    await asyncio.sleep(1.0)
    base_kib = server.rss_kib()
    points = [(0, base_kib)]
    clients: list[SocketIOClient] = []
    all_failures: Counter[str] = Counter()
    started = time.monotonic()
    connect_time = 0.0
    while len(clients) + sum(all_failures.values()) < CONNECTIONS:
        batch = min(STEP_CONNECTIONS, CONNECTIONS - len(clients) - sum(all_failures.values()))
        t0 = time.monotonic()
        opened, failed = await connect_clients(url, batch, concurrency=CONNECT_CONCURRENCY)
        connect_time += time.monotonic() - t0
        clients += opened
        all_failures += failed
        await asyncio.sleep(1.0)  # let the worker settle before reading its RSS
        alive = sum(not c.closed.is_set() for c in clients)
        points.append((alive, server.rss_kib()))
        log(f"  {alive} connected, {sum(all_failures.values())} failed, RSS {points[-1][1]} KiB")
    alive = sum(not c.closed.is_set() for c in clients)
    server_count = server.connected_clients()
    await close_all(clients)
    return {
        "attempted": CONNECTIONS,
        "connected": alive,
        "server_count": server_count,
        "failures": dict(all_failures),
        "connects_per_second": len(clients) / connect_time if connect_time else None,
        "ramp_seconds": time.monotonic() - started,
        "rss_points_kib": points,
        "mib_per_1000": slope(points) * 1000 / 1024,
        "upgrade_headers": headers,
    }


def slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0


# -- phase 2: messages per second --------------------------------------------------------------


class Deliveries:
    """Counts ``receive_message`` arrivals; the message text carries its step and send time."""

    def __init__(self) -> None:
        self.step = -1
        self.latencies: list[float] = []
        self.arrivals = 0  # any step: the throughput seen by clients
        self.joined: set[int] = set()

    def on_event(self, client: SocketIOClient, name: str, data: Any) -> None:
        if name == "receive_message":
            self.arrivals += 1
            step, _, sent = data["message"].split(":")
            if int(step) == self.step:
                self.latencies.append(time.perf_counter() - float(sent))
        elif name == "history":
            self.joined.add(id(client))


async def send_at_rate(
    client: SocketIOClient, step: int, rate: float, until: float, phase: float
) -> int:
    """Send ``rate`` messages per second until ``until`` (perf_counter), on a fixed schedule."""
    interval = 1.0 / rate
    next_at = time.perf_counter() + phase * interval
    sent = 0
    while next_at < until:
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        text = f"{step}:{sent}:{time.perf_counter():.6f}"
        await client.emit("send_message", {"room": "bench", "message": text})
        sent += 1
        next_at += interval
    return sent


async def measure_messages(server: Server) -> dict[str, Any]:
    deliveries = Deliveries()
    clients, failures = await connect_clients(
        socketio_url(server.url), MEMBERS, on_event=deliveries.on_event
    )
    if failures:
        await close_all(clients)
        return {"error": f"members could not connect: {dict(failures)}"}
    for i, client in enumerate(clients):
        await client.emit("join_room", {"username": f"member{i}", "room": "bench"})
    deadline = time.monotonic() + 20
    while len(deliveries.joined) < MEMBERS and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if len(deliveries.joined) < MEMBERS:
        await close_all(clients)
        return {"error": f"only {len(deliveries.joined)} of {MEMBERS} members joined"}
    await asyncio.sleep(0.5)
    senders = clients[:SENDERS]
    steps: list[dict[str, Any]] = []
    for step, rate in enumerate(RATES):
        deliveries.step, deliveries.latencies = step, []
        arrivals0, server_cpu0, loadgen_cpu0 = (
            deliveries.arrivals,
            server.cpu_seconds(),
            cpu_seconds(),
        )
        start = time.perf_counter()
        until = start + STEP_SECONDS
        sent = sum(
            await asyncio.gather(
                *(
                    send_at_rate(c, step, rate / SENDERS, until, i / SENDERS)
                    for i, c in enumerate(senders)
                )
            )
        )
        window = time.perf_counter() - start
        window_arrivals = deliveries.arrivals - arrivals0
        server_cpu, loadgen_cpu = server.cpu_seconds() - server_cpu0, cpu_seconds() - loadgen_cpu0
        expected = sent * MEMBERS
        grace_end = time.perf_counter() + GRACE_SECONDS
        while len(deliveries.latencies) < expected and time.perf_counter() < grace_end:
            await asyncio.sleep(0.05)
        latencies = sorted(deliveries.latencies)
        p99 = percentile(latencies, 0.99)
        sent_rate, delivered = sent / window, len(latencies) / expected if expected else 0.0
        result: dict[str, Any] = {
            "offered_msgs_per_s": rate,
            "sent_msgs_per_s": sent_rate,
            "deliveries_per_s": window_arrivals / window,
            "delivered_fraction": delivered,
            "p50_ms": _ms(percentile(latencies, 0.50)),
            "p99_ms": _ms(p99),
            "server_cpu_share": server_cpu / window,
            "server_cpu_us_per_delivery": _per_delivery(server_cpu, window_arrivals),
            "loadgen_cpu_us_per_delivery": _per_delivery(loadgen_cpu, window_arrivals),
            "loadgen_cpu_share": loadgen_cpu / window,
        }
        result["sustained"] = (
            sent_rate >= 0.95 * rate
            and delivered >= 0.999
            and p99 is not None
            and p99 <= MAX_P99_SECONDS
        )
        steps.append(result)
        log(
            "  {offered_msgs_per_s} msg/s offered: {deliveries_per_s:.0f} deliveries/s, "
            "{delivered_fraction:.3f} delivered, p50 {p50_ms} ms, p99 {p99_ms} ms, "
            "server CPU {server_cpu_share:.0%}, loadgen CPU {loadgen_cpu_share:.0%}".format(
                **result
            )
        )
        if not result["sustained"]:
            break
        await asyncio.sleep(0.3)
    await close_all(clients)
    return {"steps": steps}


def _per_delivery(cpu_seconds: float, deliveries: int) -> float | None:
    return cpu_seconds * 1e6 / deliveries if deliveries else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# -- orchestration -----------------------------------------------------------------------------


def run_phase(candidate: Candidate, phase: str, result: dict[str, Any]) -> dict[str, Any]:
    """One fresh server for one phase; its CPU and the load generator's add to ``result``."""
    measure = {"connections": measure_connections, "messages": measure_messages}[phase]
    server = Server(candidate, RESULTS / f"workers-{candidate.name}.log")
    loadgen0 = cpu_seconds()
    log(f"{candidate.name}: {phase}")
    try:
        server.start()
        cpu0 = server.cpu_seconds()
        measured = asyncio.run(measure(server))
        result["server_cpu_seconds"] += server.cpu_seconds() - cpu0
    except Exception as exc:
        measured = {"error": f"{type(exc).__name__}: {exc}", "server_log": server.log_tail()}
    finally:
        server.stop()
    result["loadgen_cpu_seconds"] += cpu_seconds() - loadgen0
    return measured


def summarize_messages(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The best sustained rate over the rounds, and the median CPU cost at the reference rate."""
    sustained = [step for r in rounds for step in r.get("steps", []) if step["sustained"]]
    best: dict[str, Any] = max(
        sustained, key=lambda s: (s["offered_msgs_per_s"], -s["p99_ms"]), default={}
    )
    at_reference = [
        step
        for r in rounds
        for step in r.get("steps", [])
        if step["offered_msgs_per_s"] == REFERENCE_RATE
    ]

    def median(key: str) -> float | None:
        values = sorted(step[key] for step in at_reference)
        return values[len(values) // 2] if values else None

    return {
        "best": best,
        "server_us_per_delivery": median("server_cpu_us_per_delivery"),
        "loadgen_us_per_delivery": median("loadgen_cpu_us_per_delivery"),
        "errors": [r["error"] for r in rounds if "error" in r],
    }


def to_row(result: dict[str, Any]) -> Row:
    conns, msgs = result["connections"], result["summary"]
    best = msgs["best"]
    failures = conns.get("failures") or {}
    errors = ([f"connections: {conns['error']}"] if "error" in conns else []) + [
        f"messages: {error}" for error in msgs["errors"]
    ]
    return {
        "worker": result["candidate"],
        "websocket": result["probe"]["websocket"],
        "connections": f"{conns.get('connected', 0)}/{CONNECTIONS}",
        "connects/s": conns.get("connects_per_second"),
        "MiB/1k idle": conns.get("mib_per_1000"),
        "msgs/s": best.get("offered_msgs_per_s"),
        "deliveries/s": best.get("deliveries_per_s"),
        "p50 ms": best.get("p50_ms"),
        "p99 ms": best.get("p99_ms"),
        f"server CPU us/delivery @{REFERENCE_RATE}": msgs["server_us_per_delivery"],
        f"loadgen CPU us/delivery @{REFERENCE_RATE}": msgs["loadgen_us_per_delivery"],
        "server CPU s": result["server_cpu_seconds"],
        "loadgen CPU s": result["loadgen_cpu_seconds"],
        "notes": "; ".join(errors + [f"{n}x {cause}" for cause, n in failures.items()]),
    }


def run() -> list[Row]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * CONNECTIONS + 1000  # both ends live on this machine; the server inherits it
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOADGEN_CPU})
    results: dict[str, dict[str, Any]] = {}
    for candidate in CANDIDATES:
        ensure_venv(candidate)
        found = probe(candidate)
        log(f"{candidate.name}: engineio uses {found['websocket']} ({found['class']})")
        (RESULTS / f"workers-{candidate.name}.log").write_text("")
        results[candidate.name] = {
            "candidate": candidate.name,
            "probe": found,
            "server_cpu_seconds": 0.0,
            "loadgen_cpu_seconds": 0.0,
            "messages": [],
        }
    for candidate in CANDIDATES:
        result = results[candidate.name]
        result["connections"] = run_phase(candidate, "connections", result)
    for _ in range(ROUNDS):  # alternated, so a noisy neighbour hurts both alike
        for candidate in CANDIDATES:
            result = results[candidate.name]
            result["messages"].append(run_phase(candidate, "messages", result))
    for result in results.values():
        result["summary"] = summarize_messages(result["messages"])
    (RESULTS / "workers.json").write_text(json.dumps(list(results.values()), indent=2))
    log(f"details in {(RESULTS / 'workers.json').relative_to(ROOT)}")
    return [to_row(result) for result in results.values()]
