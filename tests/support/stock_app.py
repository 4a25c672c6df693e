"""The chat app with the WebSocket fast path off, as on python-engineio releases it was not
tested against (app/websocket.py falls back to the stock path): ``stock_app:create_app()``."""

from __future__ import annotations

from typing import Any

from app import factory, websocket


def create_app() -> Any:
    websocket.TESTED_VERSIONS = {**websocket.TESTED_VERSIONS, "python-engineio": "0.0.0"}
    app = factory.create_app()
    assert app.extensions["socketio"].server.eio._async["websocket"].__name__ != "CompactWebSocket"
    return app
