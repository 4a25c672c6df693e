"""Guard the measured choice: engineio serves WebSockets with simple-websocket.

python-engineio silently prefers gevent-websocket whenever it is importable; the benchmark in
docs/performance.md chose simple-websocket, so a dependency dragging gevent-websocket in must
fail here. And the libraries app/websocket.py reaches into run at the versions pinned in
constraints.txt, the ones the image installs too.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re

from engineio.async_drivers import gevent as engineio_gevent
from packaging.requirements import Requirement

from tests.support.procs import ROOT


def test_gevent_websocket_is_not_installed() -> None:
    assert importlib.util.find_spec("geventwebsocket") is None


def test_engineio_gevent_driver_uses_simple_websocket() -> None:
    from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

    assert issubclass(engineio_gevent._async["websocket"], SimpleWebSocketWSGI)


def test_the_websocket_libraries_run_at_their_pinned_versions() -> None:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pins = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    names = {pin.name for pin in pins}
    assert names == {"python-engineio", "python-socketio", "simple-websocket", "wsproto"}
    for pin in pins:
        assert re.fullmatch(r"==[0-9][0-9.]*", str(pin.specifier)), f"{pin} is not exact"
        assert importlib.metadata.version(pin.name) in pin.specifier, pin
    declared = importlib.metadata.requires("livechat") or []
    assert any(Requirement(r).name == "wsproto" for r in declared), "wsproto is imported"
