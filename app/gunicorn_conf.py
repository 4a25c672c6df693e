"""gunicorn settings for the chat server, derived from the same validated ``Settings``.

One worker per process (Socket.IO connections are stateful; scale with replicas instead), a
gevent worker whose connection limit comes from ``WORKER_CONNECTIONS`` rather than gunicorn's
default of 1,000.
"""

import sys
from typing import Any

import gevent

from app.config import ConfigError, Settings

# No spawning-greenlet tree (parent, spawn tree locals, spawning stack) kept per greenlet: a
# replica spawns several per connection and per event, and nothing here reads the tree
# (1.5 KiB per idle connection, issue 15).
gevent.config.track_greenlet_tree = False

try:
    _settings = Settings.from_env()
except ConfigError as exc:
    sys.exit(f"livechat: invalid setting: {exc}")

bind = f"{_settings.host}:{_settings.port}"
workers = 1
worker_class = "app.worker.GracefulGeventWorker"
worker_connections = _settings.worker_connections
graceful_timeout = _settings.graceful_timeout
timeout = 30
keepalive = 5
loglevel = _settings.log_level.lower()
accesslog = None
errorlog = "-"


def post_worker_init(worker: Any) -> None:
    """Start the internal endpoints and the replica's background greenlets (Kafka reader,
    heartbeats) as the worker boots. A metrics port that cannot be bound stops the worker
    with one line naming it: probes and scrapes would fail silently otherwise."""
    livechat = worker.wsgi.extensions["livechat"]
    try:
        livechat.serve_internal()
    except OSError as exc:
        worker.log.error(
            "livechat: METRICS_PORT %s:%d cannot be served: %s",
            _settings.metrics_host,
            _settings.metrics_port,
            exc,
        )
        sys.exit(3)  # gunicorn: the worker failed to boot
    livechat.start_background_tasks()


# No runtime control socket: the container root filesystem is read-only.
control_socket_disable = True
