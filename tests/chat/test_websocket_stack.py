"""Guard the measured choice: engineio serves WebSockets with simple-websocket.

python-engineio silently prefers gevent-websocket whenever it is importable; the benchmark in
the README chose simple-websocket, so a dependency dragging gevent-websocket in must fail here.
"""

from __future__ import annotations

import importlib.util

from engineio.async_drivers import gevent as engineio_gevent


def test_gevent_websocket_is_not_installed() -> None:
    assert importlib.util.find_spec("geventwebsocket") is None


def test_engineio_gevent_driver_uses_simple_websocket() -> None:
    from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

    assert issubclass(engineio_gevent._async["websocket"], SimpleWebSocketWSGI)
