"""Chat state in Redis, shared by every replica: the store behind ``REDIS_URL``.

Layout, per room ``R`` (the braces keep one room's keys in one cluster hash slot):

- ``livechat:{R}:log``: a Stream of the room's messages, trimmed to ``HISTORY_LIMIT + 1``
  entries in the same ``XADD``. Stream ids (``<ms>-<seq>``) are issued by Redis in arrival order
  for the whole room, whichever replica writes, so they map one to one onto our message ids
  (``app.clock.format_id``). The one extra entry is the trim marker: a client whose ``since`` is
  older than the oldest kept entry has missed something that is gone (``truncated``).
- ``livechat:{R}:members``: a hash ``name_key(name) -> "<deadline ms> <sid> <name>"``
  (``app.chat.validation.name_key``: look-alike names share a key). Entries
  live until their deadline (2/3 of ``PRESENCE_TTL_SECONDS`` after the last heartbeat of the
  replica holding the connection, ``Settings.presence_entry_seconds``), so the ghosts of a replica
  that dies without goodbye are pruned and announced within ``PRESENCE_TTL_SECONDS``.
  Deadlines use the Redis server's clock (``TIME`` in scripts) so replicas with skewed clocks
  agree.
- ``livechat:{R}:reserved``: set by ``POST /api/rooms`` so two new rooms never share a code.
- ``livechat:{R}:events``: not a key but the room's pub/sub channel (``app/message_queue.py``),
  with the same hash tag, so in a Redis Cluster the script that appends a message can publish
  it on the same shard (``SPUBLISH``, Redis 7).

Every key of a user room expires ``ROOM_TTL_SECONDS`` after the room's last activity (a
message, a join, a heartbeat of a member); Redis forgets idle rooms by itself. The lobby's keys
never expire. History survives a Redis restart only if that Redis persists its data (AOF/RDB).

Every Redis error that means "unreachable" (refused, reset, timed out, still loading) becomes
``StoreUnavailable``; socket timeouts are short so a handler never hangs on a dead Redis, and
commands are never retried blindly, so a message is never stored twice.
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app import metrics
from app.chat.validation import name_key
from app.clock import format_id, iso_time
from app.config import Settings
from app.store.base import LOBBY, HistoryPage, Message, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds to connect to Redis or to wait for one answer before the store gives up.
REDIS_TIMEOUT_SECONDS = 2.0
#: Connections one replica may hold; greenlets wait (up to the timeout) for a free one.
MAX_CONNECTIONS = 64
#: Heartbeat scripts sent per pipeline round trip.
HEARTBEAT_BATCH = 500

#: Errors that mean Redis cannot be reached now (BusyLoadingError is a ConnectionError).
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, OSError)

# Lua 5.1 inside Redis. ``now`` is the server clock in ms, the same for every replica.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

#: KEYS: members, log. ARGV: folded name, sid, name, presence ttl ms, room ttl ms (0: never).
#: 1 when the name is now held by this sid; 0 when a live connection holds it.
_CLAIM = (
    _NOW
    + """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then
  local deadline, sid = string.match(held, '^(%d+) (%S+) ')
  if sid ~= ARGV[2] and tonumber(deadline) > now then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d %s %s', now + ARGV[4], ARGV[2], ARGV[3]))
if tonumber(ARGV[5]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return 1
"""
)

#: KEYS: members. ARGV: folded name, sid. Removes the entry only if this sid holds it.
_RELEASE = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and string.match(held, '^%d+ (%S+) ') == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

#: KEYS: members, log. ARGV: presence ttl ms, room ttl ms, then (folded, sid, name) triples.
#: Refreshes this replica's entries (re-adding any that vanished, e.g. after Redis lost its
#: data, unless someone else now holds the name), then removes every expired entry.
#: Returns {number of entries re-added, names removed...}.
_HEARTBEAT = (
    _NOW
    + """
local deadline = now + ARGV[1]
local restored = 0
for i = 3, #ARGV, 3 do
  local held = redis.call('HGET', KEYS[1], ARGV[i])
  local mine = false
  if held then
    local until_ms, sid = string.match(held, '^(%d+) (%S+) ')
    mine = sid == ARGV[i + 1] or tonumber(until_ms) <= now
  else
    restored = restored + 1
    mine = true
  end
  if mine then
    local entry = string.format('%d %s %s', deadline, ARGV[i + 1], ARGV[i + 2])
    redis.call('HSET', KEYS[1], ARGV[i], entry)
  end
end
local removed = {restored}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local until_ms, name = string.match(entries[i + 1], '^(%d+) %S+ (.*)$')
  if tonumber(until_ms) <= now then
    redis.call('HDEL', KEYS[1], entries[i])
    removed[#removed + 1] = name
  end
end
if tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return removed
"""
)

#: KEYS: log, channel. ARGV: max entries, name, text, room ttl ms (0: never), then the payload
#: published around the new entry's id. Stored if and only if published, in one round trip.
_APPEND = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'u', ARGV[2], 'm', ARGV[3])
if tonumber(ARGV[4]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
redis.call('PUBLISH', KEYS[2], ARGV[5] .. id .. ARGV[6])
return id
"""

#: KEYS: log, members, reserved. ARGV: room ttl ms. 1 if the code was free and is now taken.
_RESERVE = """
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) > 0 then return 0 end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
return 1
"""


def room_channel(room: str) -> str:
    """The room's pub/sub channel; its hash tag is the room's, as for the room's keys."""
    return f"livechat:{{{room}}}:events"


def redis_client_options(timeout: float | None) -> dict[str, Any]:
    """Connection options shared by the store and the message queue's clients.

    ``timeout`` bounds every read (None only for the pub/sub listener, which waits for
    messages forever). No automatic retries: redis-py 6+ retries three times with up to 10 s of
    backoff by default, which would hold a handler for many seconds per call during an outage;
    a stale pooled connection is replaced on checkout anyway. TCP keepalive finds a peer that
    vanished without closing the connection.
    """
    options: dict[str, Any] = {
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_timeout": timeout,
        "socket_keepalive": True,
        "retry": Retry(NoBackoff(), 0),
        "protocol": 2,
    }
    if hasattr(socket, "TCP_KEEPIDLE"):  # Linux: notice a dead peer within ~25 s
        options["socket_keepalive_options"] = {
            socket.TCP_KEEPIDLE: 10,
            socket.TCP_KEEPINTVL: 5,
            socket.TCP_KEEPCNT: 3,
        }
    return options


def _message(room: str, stream_id: str, fields: dict[str, str]) -> Message:
    ms, seq = (int(part) for part in stream_id.split("-"))
    return Message(
        id=format_id(ms, seq),
        room=room,
        username=fields.get("u", ""),
        message=fields.get("m", ""),
        time=iso_time(ms),
    )


class RedisStore:
    """``Store`` on Redis: one Stream and one members hash per room (see the module doc).

    ``origin`` is the message queue's ``host_id``: ``append`` publishes each message for the
    other replicas, marked as this replica's so its own listener drops the echo unparsed.
    """

    def __init__(self, settings: Settings, origin: str | None = None) -> None:
        assert settings.redis_url is not None
        self.origin = origin or uuid.uuid4().hex
        self.history_limit = settings.history_limit
        self.presence_ttl_ms = int(settings.presence_entry_seconds * 1000)
        self.room_ttl_ms = settings.room_ttl_seconds * 1000
        pool = redis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=MAX_CONNECTIONS,
            timeout=REDIS_TIMEOUT_SECONDS,
            decode_responses=True,
            **redis_client_options(REDIS_TIMEOUT_SECONDS),
        )
        self.client = redis.Redis(connection_pool=pool)
        self._claim = self.client.register_script(_CLAIM)
        self._release = self.client.register_script(_RELEASE)
        self._heartbeat = self.client.register_script(_HEARTBEAT)
        self._reserve = self.client.register_script(_RESERVE)
        self._append = self.client.register_script(_APPEND)

    # -- keys ----------------------------------------------------------------------------

    @staticmethod
    def _log_key(room: str) -> str:
        return f"livechat:{{{room}}}:log"

    @staticmethod
    def _members_key(room: str) -> str:
        return f"livechat:{{{room}}}:members"

    @staticmethod
    def _reserved_key(room: str) -> str:
        return f"livechat:{{{room}}}:reserved"

    def _room_ttl_ms(self, room: str) -> int:
        """0 means "never expires": the lobby always exists."""
        return 0 if room == LOBBY else self.room_ttl_ms

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one Redis round trip; unreachable Redis becomes ``StoreUnavailable``."""
        try:
            result = fn()
        except UNREACHABLE as exc:
            metrics.STORE_ERRORS.inc()
            metrics.STORE_UP.set(0)
            raise StoreUnavailable(f"redis {what}: {exc}") from exc
        metrics.STORE_UP.set(1)
        return result

    # -- Store -----------------------------------------------------------------------------

    def append(self, room: str, username: str, text: str) -> Message:
        """Store and publish in one round trip (``_APPEND``), atomically.

        ``XADD`` with an exact ``MAXLEN``, the room's TTL refresh, and a ``PUBLISH`` of the
        message to the room's channel for the other replicas (``app/message_queue.py`` turns it
        into their ``receive_message``); the caller emits to this replica's members itself.
        """
        record = json.dumps(
            {
                "method": "message",
                "host_id": self.origin,
                "room": room,
                "username": username,
                "message": text,
            }
        )
        head = f'{self.origin} {record[:-1]}, "stream_id": "'
        keys = [self._log_key(room), room_channel(room)]
        args: list[str | int] = [
            self.history_limit + 1,
            username,
            text,
            self._room_ttl_ms(room),
            head,
            '"}',
        ]
        stream_id = self._call("append", lambda: self._append(keys=keys, args=args))
        return _message(room, stream_id, {"u": username, "m": text})

    def history(self, room: str, since: str | None = None) -> HistoryPage:
        """The kept messages after ``since``; ``truncated`` if some after it were trimmed.

        The stream keeps one entry more than is ever served. When ``since`` is at or after that
        oldest entry, everything after it is still here; when it is older, at least that entry
        is missing from the latest ``history_limit``, so the client is told it has a gap.
        """
        newest_first = self._call(
            "history",
            lambda: self.client.xrevrange(self._log_key(room), count=self.history_limit + 1),
        )
        entries = cast(list[tuple[str, dict[str, str]]], newest_first)
        kept = [_message(room, sid, fields) for sid, fields in reversed(entries)]
        if since is None:
            return HistoryPage(messages=kept[-self.history_limit :])
        after = [m for m in kept if m.id > since]
        if len(after) > self.history_limit:
            return HistoryPage(messages=after[-self.history_limit :], truncated=True)
        return HistoryPage(messages=after)

    def claim(self, room: str, username: str, sid: str) -> bool:
        keys = [self._members_key(room), self._log_key(room)]
        args: list[str | int] = [
            name_key(username),
            sid,
            username,
            self.presence_ttl_ms,
            self._room_ttl_ms(room),
        ]
        return bool(self._call("claim", lambda: self._claim(keys=keys, args=args)))

    def release(self, room: str, username: str, sid: str) -> None:
        keys = [self._members_key(room)]
        self._call("release", lambda: self._release(keys=keys, args=[name_key(username), sid]))

    def members(self, room: str) -> list[str]:
        """Live names only: entries past their deadline are ghosts and are not shown."""
        pipe = self.client.pipeline(transaction=False)
        pipe.time()
        pipe.hvals(self._members_key(room))
        (seconds, micros), values = self._call("members", pipe.execute)
        now_ms = seconds * 1000 + micros // 1000
        names = []
        for value in values:
            deadline, _sid, name = value.split(" ", 2)
            if int(deadline) > now_ms:
                names.append(name)
        return sorted(names, key=str.casefold)

    def exists(self, room: str) -> bool:
        if room == LOBBY:
            return True
        keys = [self._log_key(room), self._members_key(room), self._reserved_key(room)]
        return bool(self._call("exists", lambda: self.client.exists(*keys)))

    def reserve_room(self, room: str) -> bool:
        if room == LOBBY:
            return False
        keys = [self._log_key(room), self._members_key(room), self._reserved_key(room)]
        return bool(
            self._call("reserve", lambda: self._reserve(keys=keys, args=[self.room_ttl_ms]))
        )

    def heartbeat(self, sids: list[tuple[str, str, str]]) -> dict[str, list[str]]:
        """Refresh this replica's entries and prune expired ones in the rooms it serves.

        Returns the rooms whose member list changed, each with the names that expired there
        (possibly none, when only re-added entries changed it), so the caller can tell them.
        """
        by_room: dict[str, list[str | int]] = {}
        for room, username, sid in sids:
            by_room.setdefault(room, []).extend((name_key(username), sid, username))
        changed: dict[str, list[str]] = {}
        rooms = sorted(by_room)
        for start in range(0, len(rooms), HEARTBEAT_BATCH):
            batch = rooms[start : start + HEARTBEAT_BATCH]
            pipe = self.client.pipeline(transaction=False)
            for room in batch:
                self._heartbeat(
                    keys=[self._members_key(room), self._log_key(room)],
                    args=[self.presence_ttl_ms, self._room_ttl_ms(room), *by_room[room]],
                    client=pipe,
                )
            results = self._call("heartbeat", pipe.execute)
            for room, (restored, *expired) in zip(batch, results, strict=True):
                if restored or expired:
                    changed[room] = list(expired)
        expired_count = sum(len(names) for names in changed.values())
        if expired_count:
            metrics.PRESENCE_EXPIRED.inc(expired_count)
        return changed

    def ping(self) -> None:
        self._call("ping", self.client.ping)

    def cleanup(self) -> int:
        """Nothing to do: every user room's keys carry a TTL and Redis expires them."""
        return 0
