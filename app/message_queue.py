"""The Socket.IO message queue on Redis pub/sub: how an emit on one replica reaches the others.

python-socketio's own ``RedisManager`` is "kept as one more example of how to build a custom
backend"; this is ours, on the documented ``PubSubManager`` extension points (``_publish`` and
``_listen``), because the chat needs three things it does not give:

- Two clients with different timeouts. Publishing must fail fast (2 s) so a handler never hangs
  on a dead Redis, but the listener's read must have no timeout at all: a quiet room sends
  nothing for minutes, and a read timeout there makes the listener drop and resubscribe, losing
  whatever is published meanwhile (the redis-py 8 default of 5 s does exactly that,
  python-socketio issue 1585; we also pin redis<8).
- A listener that comes back quickly: reconnect attempts every 0.5-2 s instead of backing off
  to a minute, so chat crosses replicas again within seconds of Redis returning.
- Its state in metrics and readiness (``livechat_message_queue_*``, ``/readyz``).

Pub/sub delivers only to those subscribed at the time: what other replicas publish while this
one is cut off never reaches its clients live. They get it from history when they rejoin with
``since`` (the chat page does so on every reconnect).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import redis
from socketio import PubSubManager

from app import metrics
from app.store.redis import REDIS_TIMEOUT_SECONDS, UNREACHABLE, redis_client_options

log = logging.getLogger(__name__)

RETRY_MIN_SECONDS = 0.5
RETRY_MAX_SECONDS = 2.0


class RedisMessageQueue(PubSubManager):
    """A ``PubSubManager`` publishing and listening on one Redis pub/sub channel."""

    name = "livechat-redis"

    def __init__(self, url: str, channel: str) -> None:
        super().__init__(channel=channel)
        self.listening = False
        self.started = False
        self._publisher = redis.Redis.from_url(url, **redis_client_options(REDIS_TIMEOUT_SECONDS))
        self._listener = redis.Redis.from_url(url, **redis_client_options(None))

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

        Those (``history``, ``error``) need no other replica: publishing them would cost every
        replica a message to drop, plus a Redis round trip that, during an outage, would delay
        the very ``error`` that tells the client its message was not sent.
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

    def _publish(self, data: Any) -> None:
        """One attempt, never retried (a retry after a timeout could deliver twice).

        A failure is logged and counted, not raised: the emit already reached this replica's
        clients, and the handler that emitted must still answer its client.
        """
        try:
            self._publisher.publish(self.channel, self.json.dumps(data))
        except UNREACHABLE as exc:
            metrics.QUEUE_PUBLISH_FAILURES.inc()
            log.warning("could not publish to the message queue: %s", exc)

    def _listen(self) -> Iterator[bytes]:
        """Yield every message on the channel, resubscribing for as long as the process runs."""
        delay = RETRY_MIN_SECONDS
        while True:
            pubsub = self._listener.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self._set_listening(True)
                delay = RETRY_MIN_SECONDS
                for message in pubsub.listen():
                    if message.get("type") == "message":
                        yield message["data"]
            except (redis.RedisError, *UNREACHABLE) as exc:
                log.warning("message queue listener lost Redis (%s); retrying in %s s", exc, delay)
            finally:
                if self.listening:
                    metrics.QUEUE_RECONNECTS.inc()
                self._set_listening(False)
                pubsub.close()
            self.server.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _set_listening(self, up: bool) -> None:
        self.listening = up
        metrics.QUEUE_UP.set(1 if up else 0)
