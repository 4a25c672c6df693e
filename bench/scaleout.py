"""Scale-out: CPU per local delivery with 4 replicas against 2, for livechat and its peer.

A replica should pay for the rooms it hosts, not for every room of the deployment. For each
server (livechat; the peer of ``bench/fanout.py``) and each replica count (2, then 4), on one
private Redis, with every process pinned to the server core as in the fan-out benchmark:

- **placed**: each replica hosts rooms of its own (``ROOMS_PER_REPLICA`` rooms of
  ``ROOM_SIZE`` members, all connected to that replica, one sender each); the load per replica
  (``RATE`` messages/s per replica) is the same with 2 and 4 replicas, so every replica's local
  deliveries are too. With one pub/sub channel for everything, each replica would also receive
  and drop every other replica's messages: its CPU per local delivery grows with the count.
- **spread**: the same rooms, each spread over all replicas (members round-robin), one sender
  per room, on the room's "home" replica; every replica then receives every message, as
  fan-out across replicas requires.

Reported per run: server CPU per 1,000 local deliveries (the sum over replicas and the range
over replicas), p50/p99, delivered %, and the 4-against-2 ratio per server and placement. Each
configuration is run ``REPEATS`` times for ``SECONDS`` each (several short runs: the machine is
shared), and the median run is reported.

Settings (environment, validated at start): ``BENCH_SCALEOUT_SERVERS`` (``livechat,peer``),
``BENCH_SCALEOUT_ROOMS_PER_REPLICA`` (4), ``BENCH_SCALEOUT_ROOM_SIZE`` (50),
``BENCH_SCALEOUT_RATE`` (messages/s per replica, 40), ``BENCH_SCALEOUT_SECONDS`` (5),
``BENCH_SCALEOUT_REPEATS`` (3), ``BENCH_SCALEOUT_BASELINE`` (git revisions, comma-separated:
also run livechat's ``app`` as of each, labelled ``livechat@<rev>``, as ``bench/fanout.py`` does).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from bench import Row
from bench.fanout import (
    LOADGEN_CPU,
    Load,
    Receiver,
    SettingError,
    _int_env,
    join_all,
    log,
    make_replicas,
    run_loop,
)
from bench.fanout_client import close_all, open_clients
from bench.fanout_servers import (
    RESULTS,
    ROOT,
    Redis,
    Replica,
)

COUNTS = (2, 4)
PLACEMENTS = ("placed", "spread")


def _settings() -> dict[str, Any]:
    servers = tuple(
        s.strip() for s in os.environ.get("BENCH_SCALEOUT_SERVERS", "livechat,peer").split(",")
    )
    if not servers or any(s not in ("livechat", "peer") for s in servers):
        raise SettingError(f"BENCH_SCALEOUT_SERVERS: expected livechat and/or peer, got {servers}")
    baselines = [
        f"livechat@{r.strip()}"
        for r in os.environ.get("BENCH_SCALEOUT_BASELINE", "").split(",")
        if r.strip()
    ]
    return {
        "servers": (*baselines, *servers),
        "rooms_per_replica": _int_env("BENCH_SCALEOUT_ROOMS_PER_REPLICA", 4, 1),
        "room_size": _int_env("BENCH_SCALEOUT_ROOM_SIZE", 50, 2),
        "rate": _int_env("BENCH_SCALEOUT_RATE", 40, 1),
        "seconds": _int_env("BENCH_SCALEOUT_SECONDS", 5, 1),
        "repeats": _int_env("BENCH_SCALEOUT_REPEATS", 3, 1),
    }


async def _measure(
    settings: dict[str, Any], replicas: list[Replica], redis: Redis, placement: str
) -> list[dict[str, Any]]:
    count = len(replicas)
    rooms = [f"so{r}" for r in range(settings["rooms_per_replica"] * count)]
    home = {room: i % count for i, room in enumerate(rooms)}
    targets, tags = [], []
    for room in rooms:
        for m in range(settings["room_size"]):
            replica = home[room] if placement == "placed" else (home[room] + m) % count
            targets.append(("127.0.0.1", replicas[replica].port))
            tags.append((room, replica))
    receiver = Receiver()
    opened, failures = await open_clients(targets, receiver.on_packet)
    clients = await join_all(opened, tags, receiver)
    runs: list[dict[str, Any]] = []
    try:
        if receiver.joined < len(targets):
            raise RuntimeError(f"{receiver.joined} of {len(targets)} joined; {dict(failures)}")
        load = Load(clients, 1, receiver)
        by_tag = {c.tag: c for c in clients}
        load.senders = [(by_tag[(room, home[room])], room) for room in rooms]
        for repeat in range(settings["repeats"]):
            before = [r.cpu_seconds() for r in replicas]
            step = await load.run_step(
                repeat, settings["rate"] * count, settings["seconds"], replicas, redis
            )
            per_replica = [r.cpu_seconds() - b for r, b in zip(replicas, before, strict=True)]
            runs.append(
                {
                    "received": step.received,
                    "expected": step.expected,
                    "seconds": step.seconds,
                    "latency_ms": step.latencies_ms,
                    "server_cpu_s": step.server_cpu_s,
                    "replica_cpu_s": per_replica,
                    "redis_cpu_s": step.redis_cpu_s,
                    "loadgen_share": step.loadgen_share,
                    "foreign_share": step.foreign_share,
                }
            )
            log(
                f"  {count} replicas {placement} run {repeat}: "
                f"{_per_1k(runs[-1]):.1f} ms/1k deliveries, p99 {step.latencies_ms['p99']} ms, "
                f"delivered {step.delivered:.2%}, others {step.foreign_share:.0%}"
            )
            await load.drain()
    finally:
        close_all(opened)
    return runs


def _per_1k(run: dict[str, Any]) -> float:
    return float(run["server_cpu_s"] * 1e6 / run["received"]) if run["received"] else 0.0


def _run_config(label: str, count: int, placement: str, settings: dict[str, Any]) -> dict[str, Any]:
    redis = Redis()
    replicas: list[Replica] = []
    result: dict[str, Any] = {
        "server": label,
        "replicas": count,
        "placement": placement,
        "rate": settings["rate"] * count,
    }
    try:
        redis.start()
        replicas = make_replicas(label, redis.url, count)
        for replica in replicas:
            replica.start()
        result["runs"] = run_loop(_measure(settings, replicas, redis, placement))
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        log(f"{label} x{count} {placement}: {result['error']}")
    finally:
        for replica in replicas:
            replica.stop()
        redis.stop()
    return result


def _median_run(result: dict[str, Any]) -> dict[str, Any] | None:
    runs = result.get("runs") or []
    if not runs:
        return None
    return sorted(runs, key=_per_1k)[len(runs) // 2]


def settings_rate(result: dict[str, Any]) -> int | None:
    """Messages per second of the whole deployment (the per-replica rate times the count)."""
    rate = result.get("rate")
    return int(rate) if rate is not None else None


def to_rows(results: list[dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    median: dict[tuple[str, int, str], float] = {}
    for result in results:
        run = _median_run(result)
        row: Row = {
            "server": result["server"],
            "mode": f"{result['replicas']} replicas, {result['placement']}",
            "notes": result.get("error", ""),
        }
        if run is not None:
            lat = run["latency_ms"]
            per_replica_1k = [
                cpu * 1e6 / (run["received"] / result["replicas"]) for cpu in run["replica_cpu_s"]
            ]
            per_1k = _per_1k(run)
            median[(result["server"], result["replicas"], result["placement"])] = per_1k
            row.update(
                {
                    "msgs/s": settings_rate(result),
                    "delivered %": round(run["received"] / run["expected"] * 100, 2)
                    if run["expected"]
                    else None,
                    "deliveries/s": run["received"] / run["seconds"],
                    "p50 ms": lat.get("p50"),
                    "p99 ms": lat.get("p99"),
                    "server CPU ms/1k deliveries": per_1k,
                    "replica CPU ms/1k (min-max)": (
                        f"{min(per_replica_1k):.1f}-{max(per_replica_1k):.1f}"
                    ),
                    "runs": len(result["runs"]),
                    "others CPU %": round(run["foreign_share"] * 100),
                }
            )
        rows.append(row)
    for (server, count, placement), value in median.items():
        if count != COUNTS[-1]:
            continue
        base = median.get((server, COUNTS[0], placement))
        rows.append(
            {
                "server": server,
                "mode": f"ratio {COUNTS[-1]}/{COUNTS[0]} replicas, {placement}",
                "server CPU ms/1k deliveries": value / base if base else None,
                "notes": "CPU per local delivery; 1.0 is flat",
            }
        )
    return rows


def run() -> list[Row]:
    settings = _settings()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOADGEN_CPU})
    started = time.monotonic()
    results = [
        _run_config(label, count, placement, settings)
        for label in settings["servers"]
        for placement in PLACEMENTS
        for count in COUNTS
    ]
    (RESULTS / "scaleout.json").write_text(json.dumps(results, indent=2))
    log(
        f"scale-out done in {time.monotonic() - started:.0f} s; details in "
        f"{(RESULTS / 'scaleout.json').relative_to(ROOT)}"
    )
    return to_rows(results)
