"""Room fan-out across two replicas on Redis: livechat against its peer, in the same run (issue 8).

For each server under test (livechat; the peer in ``bench/peer/``, socket.io v4 with the
official Redis adapter; optionally livechat as of an older commit, to show an optimization's
before and after), on one private Redis:

1. idle memory: ``IDLE`` Socket.IO clients connect to one replica and stay idle; the replica's
   RSS growth, per 1,000 clients;
2. fan-out: ``CLIENTS`` clients, alternately on each replica, each joining one of ``ROOMS``
   rooms (so every room has members on both replicas); two senders per room, one per replica,
   send at a fixed total rate. Each message carries its send time (the load generator's
   monotonic clock), so every receiver measures its latency. The first step runs at ``RATE``
   messages/s (the fixed-rate report), then the capacity mode doubles the rate until a step
   fails, and bisects between the last rate that met both goals (delivery >= 99.9 %, p99 <=
   250 ms) and the first that did not.

Layout: Redis and every replica on CPU ``SERVER_CPU``; this process, the load generator, on
the other core (``LOADGEN_CPU``). Its own CPU share is reported for every step: a step where it
was saturated measured the client, and is flagged.

Settings (environment, validated at start): ``BENCH_FANOUT_CLIENTS`` (1000),
``BENCH_FANOUT_ROOMS`` (10), ``BENCH_FANOUT_RATE`` (first step, messages/s, 100),
``BENCH_FANOUT_STEP_SECONDS`` (6), ``BENCH_FANOUT_MAX_STEPS`` (8), ``BENCH_FANOUT_IDLE``
(1000), ``BENCH_FANOUT_SERVERS`` (``livechat,peer``), ``BENCH_FANOUT_BASELINE`` (git revisions,
comma-separated: also run livechat's ``app`` as of each, labelled ``livechat@<rev>``, to show
an optimization's before and after in the same table), ``BENCH_FANOUT_PROFILE`` (seconds of
py-spy sampling of one livechat worker at its capacity rate, 8; 0: off).

Full results go to ``bench/results/fanout.json``, server logs and profiles beside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvloop

from bench import Row
from bench.fanout_client import LeanClient, close_all, open_clients
from bench.fanout_profile import profile_worker
from bench.fanout_servers import (
    RESULTS,
    ROOT,
    SERVER_CPU,
    Process,
    Redis,
    Replica,
    baseline_source,
    core_busy_seconds,
    livechat_replicas,
    peer_replicas,
)

LOADGEN_CPU = 1
MIN_DELIVERED = 0.999
MAX_P99_SECONDS = 0.250
#: Most a step waits for its last deliveries after its last send.
GRACE_SECONDS = 3.0
#: A failed step can leave a backlog in the servers; the next waits until it has drained.
DRAIN_SECONDS = 15.0
#: A failed step during which other processes took this much CPU is run again (at most
#: ``MAX_RETRIES`` times per server): the machine is shared, the benchmark cannot stop them.
NOISY_SHARE = 0.25
MAX_RETRIES = 2
#: Clients joining at once, and the longest wait for a batch to be answered.
JOIN_BATCH = 100
JOIN_TIMEOUT_SECONDS = 30.0
#: One in this many deliveries is fully JSON-decoded and checked.
CHECK_EVERY = 256
PAD = "hello from the fan-out benchmark"

T = TypeVar("T")


class SettingError(ValueError):
    """A BENCH_FANOUT_* variable is malformed; the message names it."""


def _int_env(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name}: expected an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingError(f"{name}: expected an integer >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    clients: int
    rooms: int
    rate: int
    step_seconds: int
    max_steps: int
    idle: int
    servers: tuple[str, ...]
    baselines: tuple[str, ...]
    profile_seconds: int

    @classmethod
    def from_env(cls) -> Settings:
        servers = tuple(
            s.strip() for s in os.environ.get("BENCH_FANOUT_SERVERS", "livechat,peer").split(",")
        )
        unknown = [s for s in servers if s not in ("livechat", "peer")]
        if unknown or not servers:
            raise SettingError(
                f"BENCH_FANOUT_SERVERS: expected livechat and/or peer, got {unknown}"
            )
        settings = cls(
            clients=_int_env("BENCH_FANOUT_CLIENTS", 1000, 2),
            rooms=_int_env("BENCH_FANOUT_ROOMS", 10, 1),
            rate=_int_env("BENCH_FANOUT_RATE", 100, 1),
            step_seconds=_int_env("BENCH_FANOUT_STEP_SECONDS", 6, 1),
            max_steps=_int_env("BENCH_FANOUT_MAX_STEPS", 8, 1),
            idle=_int_env("BENCH_FANOUT_IDLE", 1000, 0),
            servers=servers,
            baselines=tuple(
                r.strip()
                for r in os.environ.get("BENCH_FANOUT_BASELINE", "").split(",")
                if r.strip()
            ),
            profile_seconds=_int_env("BENCH_FANOUT_PROFILE", 8, 0),
        )
        if settings.clients < 2 * settings.rooms:
            raise SettingError("BENCH_FANOUT_CLIENTS: need at least two clients per room")
        return settings


def log(message: str) -> None:
    print(f"bench fanout: {message}", file=sys.stderr, flush=True)


# -- receiving ---------------------------------------------------------------------------------


class Receiver:
    """Counts deliveries of the current step and their latencies, from the raw packets.

    A message's text starts with ``~<step>:<send time in ns>~``; only the bytes between the
    markers are parsed. Every ``CHECK_EVERY``-th delivery is JSON-decoded in full and checked
    for the ``receive_message`` fields, so a server sending something else cannot pass.
    """

    def __init__(self) -> None:
        self.step = -1
        self.received = 0
        self.latencies_ns: list[int] = []
        self.joined = 0
        self.seen = 0
        self.malformed = 0
        self.last_arrival = 0.0
        self.errors: Counter[str] = Counter()  # ``error`` events by code

    def on_packet(self, client: LeanClient, payload: bytes) -> None:
        if payload.startswith(b'42["receive_message"'):
            now = time.perf_counter_ns()
            self.last_arrival = now / 1e9
            start = payload.find(b"~", 20) + 1
            step, _, sent = payload[start : payload.find(b"~", start)].partition(b":")
            if int(step) == self.step:
                self.received += 1
                self.latencies_ns.append(now - int(sent))
            self.seen += 1
            if self.seen % CHECK_EVERY == 0:
                self.check(client, payload)
        elif payload.startswith(b'42["history"'):
            self.joined += 1
        elif payload.startswith(b'42["error"'):
            try:
                self.errors[json.loads(payload[2:])[1]["code"]] += 1
            except (ValueError, LookupError, TypeError):
                self.errors["unreadable"] += 1

    def check(self, client: LeanClient, payload: bytes) -> None:
        try:
            name, data = json.loads(payload[2:])
            ok = (
                name == "receive_message"
                and data["room"] == client.tag[0]
                and isinstance(data["id"], str)
                and isinstance(data["username"], str)
                and data["message"].startswith("~")
                and data["time"].endswith("Z")
            )
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            self.malformed += 1


# -- one step at one rate ----------------------------------------------------------------------


@dataclass
class Step:
    rate: float
    sent: int = 0
    expected: int = 0
    received: int = 0
    send_seconds: float = 0.0
    seconds: float = 0.0
    latencies_ms: dict[str, float | None] = field(default_factory=dict)
    server_cpu_s: float = 0.0
    redis_cpu_s: float = 0.0
    loadgen_cpu_s: float = 0.0
    #: CPU seconds others (not the servers, Redis or the load generator) took on the two cores.
    foreign_cpu_s: float = 0.0

    @property
    def delivered(self) -> float:
        return self.received / self.expected if self.expected else 0.0

    @property
    def deliveries_per_s(self) -> float:
        return self.received / self.seconds if self.seconds else 0.0

    @property
    def loadgen_share(self) -> float:
        return self.loadgen_cpu_s / self.seconds if self.seconds else 0.0

    @property
    def foreign_share(self) -> float:
        return self.foreign_cpu_s / self.seconds if self.seconds else 0.0

    @property
    def passed(self) -> bool:
        p99 = self.latencies_ms.get("p99")
        return (
            self.delivered >= MIN_DELIVERED
            and p99 is not None
            and p99 <= MAX_P99_SECONDS * 1000
            and self.send_seconds <= 1.1 * self.sent / self.rate  # the load kept to its rate
        )

    def summary(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "sent": self.sent,
            "expected": self.expected,
            "received": self.received,
            "delivered": self.delivered,
            "deliveries_per_s": self.deliveries_per_s,
            "send_seconds": self.send_seconds,
            "seconds": self.seconds,
            "latency_ms": self.latencies_ms,
            "server_cpu_s": self.server_cpu_s,
            "redis_cpu_s": self.redis_cpu_s,
            "loadgen_cpu_s": self.loadgen_cpu_s,
            "loadgen_share": self.loadgen_share,
            "foreign_cpu_s": self.foreign_cpu_s,
            "foreign_share": self.foreign_share,
            "passed": self.passed,
        }


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentiles_ms(latencies_ns: list[int]) -> dict[str, float | None]:
    values = sorted(latencies_ns)

    def at(fraction: float) -> float | None:
        if not values:
            return None
        rank = max(0, min(len(values) - 1, round(fraction * len(values)) - 1))
        return round(values[rank] / 1e6, 1)

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0)}


class Load:
    """The connected clients of one fan-out run and the senders among them."""

    def __init__(self, clients: list[LeanClient], rooms: int, receiver: Receiver) -> None:
        self.clients = clients
        self.receiver = receiver
        self.members = Counter(client.tag[0] for client in clients)
        by_room_replica = {client.tag: client for client in clients}
        # Two senders per room, one per replica, interleaved: consecutive messages go to
        # different rooms and alternate replicas.
        self.senders = [
            (by_room_replica[(f"bench{r}", replica)], f"bench{r}")
            for replica in (0, 1)
            for r in range(rooms)
            if (f"bench{r}", replica) in by_room_replica
        ]

    async def run_step(
        self,
        step_index: int,
        rate: float,
        seconds: float,
        servers: Sequence[Process],
        redis: Redis,
    ) -> Step:
        receiver = self.receiver
        step = Step(rate)
        receiver.step, receiver.received, receiver.latencies_ns = step_index, 0, []
        cpu0 = sum(p.cpu_seconds() for p in servers)
        redis0, loadgen0 = redis.cpu_seconds(), cpu_self()
        cores0 = core_busy_seconds(SERVER_CPU) + core_busy_seconds(LOADGEN_CPU)
        total = max(1, round(rate * seconds))
        start = time.perf_counter()
        k = 0
        while k < total:
            due = start + k / rate
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
                now = time.perf_counter()
            while k < total and start + k / rate <= now:
                client, room = self.senders[k % len(self.senders)]
                text = f"~{step_index}:{time.perf_counter_ns()}~ {PAD}"
                if client.emit("send_message", {"room": room, "message": text}):
                    step.sent += 1
                    step.expected += self.members[room]
                k += 1
        step.send_seconds = time.perf_counter() - start
        deadline = time.perf_counter() + GRACE_SECONDS
        while receiver.received < step.expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        end = time.perf_counter()
        if receiver.received >= step.expected:
            end = min(end, receiver.last_arrival)
        step.seconds = max(end - start, step.send_seconds)
        step.server_cpu_s = sum(p.cpu_seconds() for p in servers) - cpu0
        step.redis_cpu_s = redis.cpu_seconds() - redis0
        step.loadgen_cpu_s = cpu_self() - loadgen0
        cores = core_busy_seconds(SERVER_CPU) + core_busy_seconds(LOADGEN_CPU) - cores0
        ours = step.server_cpu_s + step.redis_cpu_s + step.loadgen_cpu_s
        step.foreign_cpu_s = max(0.0, cores - ours)
        step.received = receiver.received
        step.latencies_ms = percentiles_ms(receiver.latencies_ns)
        receiver.step = -1
        return step

    async def drain(self) -> None:
        """Wait until no delivery has arrived for a second (a failed step's backlog)."""
        deadline = time.perf_counter() + DRAIN_SECONDS
        while time.perf_counter() < deadline:
            if time.perf_counter() - self.receiver.last_arrival > 1.0:
                return
            await asyncio.sleep(0.1)


def next_rate(steps: list[Step], first: float) -> float | None:
    """Double until a step fails; then bisect (geometrically) between last pass and first fail."""
    if not steps:
        return first
    passed = [s.rate for s in steps if s.passed]
    failed = [s.rate for s in steps if not s.passed]
    if not failed:
        return steps[-1].rate * 2
    low, high = max(passed, default=0.0), min(failed)
    if low == 0.0:
        return None  # even the first rate failed: nothing to bisect
    candidate = round((low * high) ** 0.5)
    return None if high / low < 1.15 or candidate in (low, high) else float(candidate)


# -- one server under test ---------------------------------------------------------------------


async def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def idle_memory(replica: Replica, count: int) -> dict[str, Any]:
    """RSS growth of one replica per 1,000 idle clients (connected, in no room)."""
    warm, _ = await open_clients([("127.0.0.1", replica.port)] * 10)
    close_all(warm)
    await asyncio.sleep(1.0)
    before = replica.rss_kib()
    clients, failures = await open_clients([("127.0.0.1", replica.port)] * count)
    await asyncio.sleep(2.0)
    after = replica.rss_kib()
    alive = sum(1 for c in clients if c is not None and not c.closed.is_set())
    deflate = sum(1 for c in clients if c is not None and c.deflate)
    close_all(clients)
    return {
        "clients": alive,
        "deflate": deflate,
        "failures": dict(failures),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "mib_per_1000": (after - before) / 1024 * 1000 / alive if alive else None,
    }


async def join_all(
    opened: list[LeanClient | None], tags: list[tuple[str, int]], receiver: Receiver
) -> list[LeanClient]:
    """Each opened client, tagged (room, replica), joins its room; the ones that connected."""
    clients = []
    for i, client in enumerate(opened):
        if client is None:
            continue
        client.tag = tags[i]
        clients.append(client)
        client.emit("join_room", {"username": f"user{i}", "room": tags[i][0]})
        # In batches: each join is announced to its room, so a burst of them is a storm of
        # presence events; the join phase is set-up, not what is measured.
        if len(clients) % JOIN_BATCH == 0:
            await wait_for(lambda: receiver.joined >= len(clients), JOIN_TIMEOUT_SECONDS)
    await wait_for(lambda: receiver.joined >= len(clients), JOIN_TIMEOUT_SECONDS)
    await asyncio.sleep(1.0)  # the join announcements settle
    return clients


async def fan_out(
    settings: Settings, replicas: list[Replica], redis: Redis, profile_label: str | None
) -> dict[str, Any]:
    receiver = Receiver()
    targets, tags = [], []
    for i in range(settings.clients):
        replica = i % 2
        targets.append(("127.0.0.1", replicas[replica].port))
        tags.append((f"bench{(i // 2) % settings.rooms}", replica))
    connect_started = time.perf_counter()
    opened, failures = await open_clients(targets, receiver.on_packet)
    connect_seconds = time.perf_counter() - connect_started
    join_started = time.perf_counter()
    clients = await join_all(opened, tags, receiver)
    join_seconds = time.perf_counter() - join_started
    result: dict[str, Any] = {
        "clients": settings.clients,
        "connected": len(clients),
        "joined": receiver.joined,
        "connect_failures": dict(failures),
        "connect_seconds": connect_seconds,
        "join_seconds": join_seconds,
        "deflate": sum(c.deflate for c in clients),
    }
    if receiver.joined < len(clients) or not clients:
        close_all(opened)
        result["error"] = (
            f"only {receiver.joined} of {len(clients)} clients joined; "
            f"errors {dict(receiver.errors)}"
        )
        return result
    load = Load(clients, settings.rooms, receiver)
    steps: list[Step] = []
    tag, retries = 0, 0
    rate = next_rate(steps, settings.rate)
    while rate is not None and len(steps) < settings.max_steps:
        step = await load.run_step(tag, rate, settings.step_seconds, replicas, redis)
        tag += 1
        lat = step.latencies_ms
        log(
            f"  {rate:.0f} msg/s: {step.deliveries_per_s:,.0f} deliveries/s, "
            f"{step.delivered:.2%} delivered, p50 {lat['p50']} p99 {lat['p99']} ms, "
            f"server CPU {step.server_cpu_s / step.seconds:.0%}, "
            f"redis {step.redis_cpu_s / step.seconds:.0%}, "
            f"loadgen {step.loadgen_share:.0%}, others {step.foreign_share:.0%} "
            f"-> {'ok' if step.passed else 'FAIL'}"
        )
        if not step.passed:
            await load.drain()
            if step.foreign_share > NOISY_SHARE and retries < MAX_RETRIES:
                retries += 1
                log("  other processes took the cores during that step: running it again")
                continue
        steps.append(step)
        rate = next_rate(steps, settings.rate)
    result["steps"] = [s.summary() for s in steps]
    result["rss_kib"] = [r.rss_kib() for r in replicas]
    result["malformed"] = receiver.malformed
    result["errors"] = dict(receiver.errors)
    best = max((s for s in steps if s.passed), key=lambda s: s.rate, default=None)
    if profile_label and settings.profile_seconds and best is not None:
        log(f"  profiling {replicas[0].name} for {settings.profile_seconds} s at {best.rate:.0f}")
        assert replicas[0].measured_pid is not None
        profiling = asyncio.create_task(
            asyncio.to_thread(
                profile_worker, replicas[0].measured_pid, settings.profile_seconds, profile_label
            )
        )
        await asyncio.sleep(0.5)
        await load.run_step(tag, best.rate, settings.profile_seconds - 1, replicas, redis)
        result["profile"] = await profiling
    close_all(opened)
    return result


def run_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """On uvloop: its reads cost a fraction of asyncio's, and the client must stay lean."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def make_replicas(label: str, redis_url: str, count: int = 2) -> list[Replica]:
    """``count`` replicas of ``peer``, ``livechat`` or ``livechat@<revision>``."""
    if label == "peer":
        return peer_replicas(redis_url, count)
    if label == "livechat":
        return livechat_replicas(redis_url, label, count=count)
    revision = label.split("@", 1)[1]
    return livechat_replicas(redis_url, label, baseline_source(revision), count)


def run_server(label: str, settings: Settings, redis: Redis) -> dict[str, Any]:
    """One server's idle and fan-out measurements; a failure becomes its row's note."""
    log(f"{label}: starting two replicas")
    redis.flush()
    result: dict[str, Any] = {"server": label}
    replicas: list[Replica] = []
    try:
        replicas = make_replicas(label, redis.url)
        for replica in replicas:
            replica.start()
        if settings.idle:
            result["idle"] = run_loop(idle_memory(replicas[0], settings.idle))
            log(f"  idle: {result['idle']}")
        profile = label if label.startswith("livechat") else None
        result["fanout"] = run_loop(fan_out(settings, replicas, redis, profile))
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        log(f"{label}: {result['error']}")
    finally:
        for replica in replicas:
            replica.stop()
    return result


# -- the table ---------------------------------------------------------------------------------


def _best(result: dict[str, Any]) -> dict[str, Any] | None:
    steps = result.get("fanout", {}).get("steps", [])
    return max((s for s in steps if s["passed"]), key=lambda s: s["rate"], default=None)


def _per_1k(step: dict[str, Any]) -> float | None:
    """Server CPU milliseconds per 1,000 deliveries."""
    return step["server_cpu_s"] * 1e6 / step["received"] if step["received"] else None


def _step_row(label: str, mode: str, step: dict[str, Any] | None, result: dict[str, Any]) -> Row:
    fanout = result.get("fanout", {})
    idle = result.get("idle", {})
    failures = sum(fanout.get("connect_failures", {}).values()) if fanout else None
    notes = [result["error"]] if "error" in result else []
    notes += [fanout["error"]] if "error" in fanout else []
    if fanout.get("malformed"):
        notes.append(f"{fanout['malformed']} malformed events")
    if fanout.get("errors"):
        notes.append(f"error events {fanout['errors']}")
    if step is not None and step["loadgen_share"] > 0.9:
        notes.append("load generator saturated")
    lat = step["latency_ms"] if step else {}
    rss = fanout.get("rss_kib")
    return {
        "server": label,
        "mode": mode,
        "clients": fanout.get("connected"),
        "connect failures": failures,
        "deflate": _deflate(fanout),
        "msgs/s": round(step["rate"]) if step else None,
        "delivered %": round(step["delivered"] * 100, 2) if step else None,
        "deliveries/s": step["deliveries_per_s"] if step else None,
        "p50 ms": lat.get("p50"),
        "p90 ms": lat.get("p90"),
        "p99 ms": lat.get("p99"),
        "max ms": lat.get("max"),
        "server CPU s": step["server_cpu_s"] if step else None,
        "server CPU ms/1k deliveries": _per_1k(step) if step else None,
        "redis CPU s": step["redis_cpu_s"] if step else None,
        "RSS MiB (2 replicas)": sum(rss) / 1024 if rss and mode == "capacity" else None,
        "idle MiB/1k conns": idle.get("mib_per_1000") if mode == "capacity" else None,
        "loadgen CPU %": round(step["loadgen_share"] * 100) if step else None,
        "others CPU %": round(step["foreign_share"] * 100) if step else None,
        "notes": "; ".join(notes),
    }


def _deflate(fanout: dict[str, Any]) -> str | None:
    """Whether the server accepted the browser's permessage-deflate offer."""
    if not fanout.get("connected"):
        return None
    agreed = fanout.get("deflate", 0)
    return "yes" if agreed == fanout["connected"] else "no" if not agreed else f"{agreed}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def to_rows(results: list[dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for result in results:
        steps = result.get("fanout", {}).get("steps", [])
        first = steps[0] if steps else None
        rows.append(
            _step_row(
                result["server"],
                f"fixed {first['rate']:.0f}/s" if first else "fixed",
                first,
                result,
            )
        )
        rows.append(_step_row(result["server"], "capacity", _best(result), result))
    by_label = {r["server"]: r for r in results}
    peer = by_label.get("peer")
    for label, result in by_label.items():
        if peer is None or not label.startswith("livechat"):
            continue
        mine, theirs = _best(result), _best(peer)

        def ratio(
            measure: Callable[[dict[str, Any]], float | None],
            mine: dict[str, Any] | None = mine,
            theirs: dict[str, Any] | None = theirs,
        ) -> float | None:
            if mine is None or theirs is None:
                return None
            return _ratio(measure(mine), measure(theirs))

        rows.append(
            {
                "server": f"{label}/peer",
                "mode": "ratio",
                "msgs/s": ratio(lambda step: step["rate"]),
                "p99 ms": ratio(lambda step: step["latency_ms"]["p99"]),
                "server CPU ms/1k deliveries": ratio(_per_1k),
                "idle MiB/1k conns": _ratio(
                    result.get("idle", {}).get("mib_per_1000"),
                    peer.get("idle", {}).get("mib_per_1000"),
                ),
                "notes": "capacity, and p99 and CPU per delivery at each one's capacity",
            }
        )
    return rows


def run() -> list[Row]:
    settings = Settings.from_env()
    RESULTS.mkdir(parents=True, exist_ok=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 4 * (settings.clients + settings.idle) + 1000  # both ends live on this machine
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOADGEN_CPU})
    labels = list(settings.servers)
    labels[:0] = [f"livechat@{revision}" for revision in settings.baselines]
    log(
        f"{settings.clients} clients in {settings.rooms} rooms on 2 replicas; "
        f"servers and Redis on CPU 0, load generator on CPU {LOADGEN_CPU}"
    )
    redis = Redis()
    try:
        redis.start()
        results = [run_server(label, settings, redis) for label in labels]
    except RuntimeError as exc:  # no Redis: every server's row says so, the other benchmarks run
        log(str(exc))
        results = [{"server": label, "error": str(exc)} for label in labels]
    finally:
        redis.stop()
    (RESULTS / "fanout.json").write_text(json.dumps(results, indent=2))
    log(f"details in {(RESULTS / 'fanout.json').relative_to(ROOT)}")
    return to_rows(results)
