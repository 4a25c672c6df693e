"""The Socket.IO message queue on Redis pub/sub: how an emit on one replica reaches the others.

python-socketio's own ``RedisManager`` is "kept as one more example of how to build a custom
backend"; this is ours, on the documented ``PubSubManager`` extension points (``_publish`` and
``_listen``), because the chat needs what it does not give:

- **A channel per room.** ``RedisManager`` publishes every room on one channel, so every
  replica receives, decodes and drops every other replica's traffic (64-123 us per message per
  replica, issue 15). Here a room's events go to ``livechat:{<room>}:events`` and a replica
  subscribes only to the rooms it has members in (``hold``/``release``, called by the chat
  service on a member's first join and last leave). Anything not addressed to a room (a
  broadcast to everyone, a remote disconnect, an ack returned to its emitter) goes on the
  global ``livechat`` channel, to which every replica stays subscribed. The room's name is the
  channel's hash tag, shared with the room's keys (``app/store/redis.py``), so a Redis Cluster
  keeps a room's keys and channel on one shard, and sharded pub/sub (``SSUBSCRIBE``/
  ``SPUBLISH``, Redis 7) is a rename away.
- **The first local join waits for its subscription** (``hold`` returns once Redis confirmed
  it) before the join reads history: a message published in between is then delivered live,
  and clients drop repeats by id. Without that wait it could be in neither.
- **Own echo dropped unparsed.** Every published payload starts with the publishing replica's
  ``host_id`` and a space, so the listener drops its own messages with one ``startswith``
  instead of decoding their JSON.
- **Chat messages published by the store**, in the same Lua script that appends them to the
  room's stream (``RedisStore.append``): a message is stored if and only if it is published,
  in one round trip. The listener turns those records (``method: "message"``) into the
  ``receive_message`` a local emit would have sent.
- Two clients with different timeouts. Publishing must fail fast (2 s) so a handler never hangs
  on a dead Redis, but the listener's read must have no timeout at all: a quiet room sends
  nothing for minutes, and a read timeout there makes the listener drop and resubscribe, losing
  whatever is published meanwhile (the redis-py 8 default of 5 s does exactly that,
  python-socketio issue 1585; we also pin redis<8).
- A listener that comes back quickly: reconnect attempts every 0.5-2 s instead of backing off
  to a minute, resubscribing to the global channel and every room hosted here, so chat crosses
  replicas again within seconds of Redis returning.
- Its state in metrics and readiness (``livechat_message_queue_*``, ``/readyz``).

Pub/sub delivers only to those subscribed at the time: what other replicas publish while this
one is cut off never reaches its clients live. They get it from history when they rejoin with
``since`` (the chat page does so on every reconnect).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterator
from typing import Any

import redis
from gevent.event import Event
from socketio import PubSubManager

from app import metrics
from app.clock import format_id, iso_time
from app.store.redis import (
    REDIS_TIMEOUT_SECONDS,
    UNREACHABLE,
    redis_client_options,
    room_channel,
)

log = logging.getLogger(__name__)

RETRY_MIN_SECONDS = 0.5
RETRY_MAX_SECONDS = 2.0
#: The longest a first join waits for Redis to confirm the room's subscription.
SUBSCRIBE_TIMEOUT_SECONDS = REDIS_TIMEOUT_SECONDS


class _Subscription:
    """One room hosted here: how many local members hold it, and whether Redis confirmed it."""

    __slots__ = ("holders", "ready")

    def __init__(self) -> None:
        self.holders = 0
        self.ready = Event()


class RedisMessageQueue(PubSubManager):
    """A ``PubSubManager`` on one Redis pub/sub channel per room plus a global one."""

    name = "livechat-redis"

    def __init__(self, url: str, channel: str) -> None:
        super().__init__(channel=channel)
        self.listening = False
        self.started = False
        #: What every payload this replica publishes starts with (see the module doc).
        self.origin = self.host_id.encode() + b" "
        self._publisher = redis.Redis.from_url(url, **redis_client_options(REDIS_TIMEOUT_SECONDS))
        self._listener = redis.Redis.from_url(url, **redis_client_options(None))
        self._pubsub: Any = None
        self._rooms: dict[str, _Subscription] = {}
        #: Per channel, the subscriptions waiting for Redis to confirm a SUBSCRIBE, in order.
        self._expected: dict[bytes, deque[_Subscription]] = {}

    def initialize(self) -> None:
        """Called by python-socketio on the first connection; starts the listener greenlet."""
        super().initialize()
        self.started = True

    def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Emit; one addressed to a single connection of this replica stays local.

        Those (``history``, ``error``) need no other replica: publishing them would cost a
        Redis round trip that, during an outage, would delay the very ``error`` that tells the
        client its message was not sent.
        """
        target = to or room
        if target is not None and callback is None and self.is_connected(target, namespace or "/"):
            kwargs["ignore_queue"] = True
        return super().emit(
            event,
            data,
            namespace=namespace,
            room=target,
            skip_sid=skip_sid,
            callback=callback,
            **kwargs,
        )

    def check(self) -> None:
        """Readiness: raise while the listener has started but is not subscribed."""
        if self.started and not self.listening:
            raise ConnectionError("not subscribed to the Redis message queue")

    # -- rooms hosted here -------------------------------------------------------------------

    def hold(self, room: str) -> None:
        """A local member joins ``room``: subscribe on the first, and wait for Redis to confirm.

        Raises ``ConnectionError`` if the subscription is not confirmed in time (Redis is
        unreachable); the hold is then undone.
        """
        sub = self._rooms.get(room)
        if sub is None:
            sub = self._rooms[room] = _Subscription()
            self._send("SUBSCRIBE", [room], [sub])
        sub.holders += 1
        if not sub.ready.wait(SUBSCRIBE_TIMEOUT_SECONDS):
            self.release(room)
            raise ConnectionError(f"subscription to {room} not confirmed")

    def release(self, room: str) -> None:
        """A local member left ``room``: unsubscribe after the last one."""
        sub = self._rooms.get(room)
        if sub is None:
            return
        sub.holders -= 1
        if sub.holders <= 0:
            del self._rooms[room]
            self._send("UNSUBSCRIBE", [room], [])

    def hosted_rooms(self) -> list[str]:
        return list(self._rooms)

    def _send(self, command: str, rooms: list[str], subs: list[_Subscription]) -> None:
        """Write a (UN)SUBSCRIBE on the listener's connection; the listener reads the replies.

        Without a connection (Redis is away) nothing is sent: the listener subscribes to every
        hosted room when it reconnects.
        """
        pubsub = self._pubsub
        if pubsub is None or not self.listening:
            return
        channels = [room_channel(room) for room in rooms]
        for channel, sub in zip(channels, subs, strict=False):
            self._expected.setdefault(channel.encode(), deque()).append(sub)
        try:
            if command == "SUBSCRIBE":
                pubsub.subscribe(*channels)
            else:
                pubsub.unsubscribe(*channels)
        except UNREACHABLE as exc:  # the listener notices too, and resubscribes everything
            log.warning("could not %s: %s", command.lower(), exc)

    # -- PubSubManager -----------------------------------------------------------------------

    def _publish(self, data: Any) -> None:
        """One attempt, never retried (a retry after a timeout could deliver twice).

        An emit to a room goes to that room's channel; anything else to the global one. A
        failure is logged and counted, not raised: the emit already reached this replica's
        clients, and the handler that emitted must still answer its client.
        """
        room = data.get("room") if data.get("method") == "emit" else None
        channel = room_channel(room) if isinstance(room, str) else self.channel
        try:
            self._publisher.publish(channel, self.origin + self.json.dumps(data).encode())
        except UNREACHABLE as exc:
            metrics.QUEUE_PUBLISH_FAILURES.inc()
            log.warning("could not publish to the message queue: %s", exc)

    def _listen(self) -> Iterator[Any]:
        """Yield every message of another replica, resubscribing for as long as the process runs.

        Own messages are dropped by their prefix; chat message records from the store are
        turned into the emit python-socketio's listener expects.
        """
        delay = RETRY_MIN_SECONDS
        origin = self.origin
        while True:
            pubsub = self._listener.pubsub()
            try:
                rooms = dict(self._rooms)
                self._expected = {
                    room_channel(room).encode(): deque([sub]) for room, sub in rooms.items()
                }
                pubsub.subscribe(self.channel, *(room_channel(room) for room in rooms))
                self._pubsub = pubsub
                self._set_listening(True)
                # Joins and leaves while this connected and subscribed (it yields) could not
                # send their own (UN)SUBSCRIBE: catch up with them.
                late = [r for r, sub in self._rooms.items() if rooms.get(r) is not sub]
                gone = [r for r in rooms if r not in self._rooms]
                if late:
                    self._send("SUBSCRIBE", late, [self._rooms[r] for r in late])
                if gone:
                    self._send("UNSUBSCRIBE", gone, [])
                delay = RETRY_MIN_SECONDS
                for message in pubsub.listen():
                    kind = message["type"]
                    if kind == "message":
                        data: bytes = message["data"]
                        if data.startswith(origin):
                            continue
                        record = _decode(data)
                        if record is not None:
                            yield record
                    elif kind == "subscribe":
                        waiting = self._expected.get(message["channel"])
                        if waiting:
                            waiting.popleft().ready.set()
            except (redis.RedisError, *UNREACHABLE) as exc:
                log.warning("message queue listener lost Redis (%s); retrying in %s s", exc, delay)
            finally:
                if self.listening:
                    metrics.QUEUE_RECONNECTS.inc()
                self._set_listening(False)
                self._pubsub = None
                pubsub.close()
            self.server.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _set_listening(self, up: bool) -> None:
        self.listening = up
        metrics.QUEUE_UP.set(1 if up else 0)


def _decode(data: bytes) -> dict[str, Any] | None:
    """A published payload (``<host id> <json>``) as python-socketio's listener takes it."""
    try:
        record = json.loads(data[data.index(b" ") + 1 :])
    except ValueError:
        log.warning("dropped an unreadable message queue payload")
        return None
    if not isinstance(record, dict):
        return None
    if record.get("method") == "message":
        return chat_message_emit(record)
    return record


def chat_message_emit(record: dict[str, Any]) -> dict[str, Any] | None:
    """The ``receive_message`` emit for a message record published by ``RedisStore.append``."""
    try:
        ms, seq = (int(part) for part in record["stream_id"].split("-"))
        event = {
            "id": format_id(ms, seq),
            "username": record["username"],
            "room": record["room"],
            "message": record["message"],
            "time": iso_time(ms),
        }
    except (KeyError, ValueError, AttributeError):
        log.warning("dropped a malformed chat message record")
        return None
    return {
        "method": "emit",
        "event": "receive_message",
        "data": [event],
        "namespace": "/",
        "room": event["room"],
        "host_id": record.get("host_id"),
    }
