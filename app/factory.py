"""The application factory: settings, Flask, Flask-SocketIO, store and handlers wired once."""

from __future__ import annotations

import logging
import os

from flask import Flask
from flask_socketio import SocketIO

from app.chat import events
from app.chat.routes import bp as chat_bp
from app.config import Settings
from app.logbudget import LogBudget, guard_wire_loggers
from app.message_queue import RedisMessageQueue
from app.metrics import WEBSOCKET_DIRECT_WRITES
from app.origin import origin_policy, trust_proxies
from app.runtime import Livechat
from app.store import make_store
from app.twitch.rooms import TwitchRooms
from app.websocket import install_compact_websocket
from app.wire import PacketGuard, WireGuard, guard_websocket

log = logging.getLogger(__name__)

#: Socket.IO frames above this are refused by the server before any handler runs.
MAX_HTTP_BUFFER_SIZE = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from ``settings`` (default: the environment).

    The ``SocketIO`` object is made here rather than as a module global because its handlers
    close over this app's service; tests build several apps in one process.
    """
    from_env = settings is None
    settings = Settings.from_env() if settings is None else settings
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(
        max(logging.WARNING, logging.getLevelName(settings.log_level))
    )
    if from_env and not os.environ.get("SECRET_KEY"):
        log.warning("SECRET_KEY is not set: using a random key for this process only")
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, LIVECHAT_SETTINGS=settings)

    # With REDIS_URL, emits cross replicas through our Redis pub/sub manager (see
    # app/message_queue.py for why not Flask-SocketIO's built-in one).
    queue = RedisMessageQueue(settings.redis_url, "livechat") if settings.redis_url else None
    socketio = SocketIO(
        app,
        async_mode="gevent",
        # A callable: python-engineio's own same-origin check believed X-Forwarded-Host from
        # any client; ours follows TRUSTED_PROXY_HOPS (app/origin.py).
        cors_allowed_origins=origin_policy(settings.cors_allowed_origins),
        max_http_buffer_size=MAX_HTTP_BUFFER_SIZE,
        **({"client_manager": queue} if queue is not None else {}),
    )
    # No permessage-deflate, a room broadcast framed once, writes coalesced per member without
    # a queue hop, one pinger: see app/websocket.py. WEBSOCKET_FAST_PATH=off
    # leaves python-engineio and simple-websocket exactly as released.
    if settings.websocket_fast_path:
        install_compact_websocket(socketio.server, WEBSOCKET_DIRECT_WRITES.inc)
    # Hostile clients: every packet checked before engineio/socketio parse it, refusals counted
    # and logged within a budget, library loggers under a budget too (docs/security.md).
    guard_wire_loggers()
    wire_log = LogBudget()
    guard_websocket(socketio.server.eio, MAX_HTTP_BUFFER_SIZE, wire_log)
    PacketGuard(socketio.server, wire_log)
    app.wsgi_app = trust_proxies(  # type: ignore[method-assign]
        WireGuard(
            app.wsgi_app,
            socketio.server.eio,
            MAX_HTTP_BUFFER_SIZE,
            settings.max_connections_per_address,
            wire_log,
        ),
        settings.trusted_proxy_hops,
    )
    live_rooms = TwitchRooms(settings.history_limit) if settings.kafka_bootstrap_servers else None
    store = make_store(settings, queue.host_id if queue is not None else None)
    livechat = Livechat(settings, socketio, store, live_rooms, queue)
    app.extensions["livechat"] = livechat
    if queue is not None:
        livechat.readiness_checks["message_queue"] = queue.check
    app.register_blueprint(chat_bp)
    events.register(socketio, livechat.service, livechat.start_background_tasks)
    app.before_request(livechat.start_background_tasks)
    return app
