"""``/metrics``, ``/readyz`` and ``/healthz`` on their own port (``METRICS_HOST:METRICS_PORT``).

The chat port is public: the Ingress and HTTPRoute send ``/`` to it, so anything served there
is served to the internet. Metrics (what the server is doing, how often it fails) and the
readiness verdict are for Prometheus and the kubelet only, so they are served by a second,
small gevent WSGI server in the same worker on a port the chart exposes to the cluster but
never routes (the layout Centrifugo uses). It has its own pool of greenlets, so a scrape or a
probe still gets through when the public port is at ``WORKER_CONNECTIONS``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from flask import request as http_request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)

#: Concurrent requests on the internal port (probes and scrapes are few and short).
INTERNAL_POOL_SIZE = 64

bp = Blueprint("internal", __name__)


def _livechat() -> Any:
    return current_app.extensions["livechat"]


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    """200 when every configured dependency answers, else 503 naming the failing ones.

    ``?ignore=kafka`` leaves named dependencies out of the verdict (still reported): the chart's
    readiness probe uses it so a Kafka outage, which only pauses the live Twitch rooms, does not
    pull every replica out of the Service and end all chat.
    """
    failing = _livechat().failing_dependencies()
    ignored = {name for name in http_request.args.get("ignore", "").split(",") if name}
    blocking = [name for name in failing if name not in ignored]
    if blocking:
        return jsonify(status="unavailable", failing=failing), 503
    if failing:  # only ignored ones: still reported
        return jsonify(status="ready", failing=failing)
    return jsonify(status="ready")


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    """This app's readiness first (its checks refresh ``livechat_store_up``), then the rest."""
    body = generate_latest(_livechat().metrics_registry) + generate_latest()
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def create_internal_app(livechat: Any) -> Flask:
    """The internal endpoints' own Flask app, sharing the replica's ``Livechat``."""
    app = Flask(__name__)
    app.extensions["livechat"] = livechat
    app.register_blueprint(bp)
    return app


def serve_internal(livechat: Any, host: str, port: int) -> Any:
    """Start the internal server in this (gevent) worker; raises ``OSError`` if it cannot bind."""
    from gevent.pool import Pool
    from gevent.pywsgi import WSGIServer

    server = WSGIServer(
        (host, port),
        create_internal_app(livechat),
        spawn=Pool(INTERNAL_POOL_SIZE),
        log=None,
        error_log=log,
    )
    server.start()
    log.info("metrics and readiness on http://%s:%d", host, port)
    return server
