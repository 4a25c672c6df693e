"""The chat server as it would run on a python-socketio release without the internal hook
app/websocket.py wraps (``Server._send_eio_packet``)::

    gunicorn --config python:app.gunicorn_conf 'tests.support.no_hook_app:create_app()'

The hook is hidden only while the factory runs, which is when ``install_compact_websocket``
looks for it; python-socketio itself then works as released.
"""

from __future__ import annotations

import socketio
from flask import Flask

from app import create_app as create_livechat_app


def create_app() -> Flask:
    hook = socketio.Server._send_eio_packet
    del socketio.Server._send_eio_packet
    try:
        return create_livechat_app()
    finally:
        socketio.Server._send_eio_packet = hook  # type: ignore[method-assign]
