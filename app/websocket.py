"""The WebSocket transport, tuned for room broadcasts of small messages.

Two changes to how python-engineio and simple-websocket serve WebSockets, both measured by
the fan-out benchmark (``make bench``, README "Performance"):

**No permessage-deflate.** Every browser offers it and simple-websocket accepts the offer
unconditionally. Then each connection holds its own zlib compressor (with context takeover the
window cannot be shared), created at the first frame the server sends, and every room broadcast
is compressed once per member. For frames of a few hundred bytes that deflate barely shrinks,
that cost about 150 MiB of RSS per 1,000 idle browser connections instead of about 65, and
twice the CPU per delivered message. socket.io's Node server ships with the extension off for
the same reasons. Declining is standard (RFC 7692: a server may ignore the offer) and invisible
to clients; ``CompactWebSocket`` removes the offer before the handshake reads it.

**A broadcast framed once.** python-socketio encodes a room emit once and queues the same
Engine.IO packet, whose ``encode()`` is cached, to every member; each member's writer greenlet
then hands that same string to simple-websocket, which builds a wsproto event and serializes
the WebSocket frame again for every member. Without extensions a server's frame depends on the
payload only (servers do not mask), so ``CompactWebSocket`` builds it once per message and
writes the same bytes to each socket, exactly as simple-websocket would have.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from wsproto.connection import ConnectionState

log = logging.getLogger(__name__)

_OFFER = "HTTP_SEC_WEBSOCKET_EXTENSIONS"
#: Frames kept for reuse; a broadcast's writers run back to back, so a few suffice.
_FRAME_CACHE_SIZE = 32
_frames: dict[int, tuple[str, bytes]] = {}


def text_frame(message: str) -> bytes:
    """One final, unmasked text frame (RFC 6455 5.2), cached by the identity of ``message``.

    Keyed by ``id`` with the string kept in the entry, so an id is never reused while cached.
    """
    entry = _frames.get(id(message))
    if entry is not None and entry[0] is message:
        return entry[1]
    payload = message.encode()
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    frame = header + payload
    if len(_frames) >= _FRAME_CACHE_SIZE:
        _frames.clear()
    _frames[id(message)] = (message, frame)
    return frame


def install_compact_websocket(eio_server: Any) -> bool:
    """Serve this engineio server's WebSockets with ``CompactWebSocket``; False if not possible.

    engineio picks the class from its async driver (``_async["websocket"]``); the override is
    made on this server's own copy, so other servers in the process are untouched. It applies
    only on top of simple-websocket (not gevent-websocket, which engineio would prefer if it
    were installed, and which negotiates no extension anyway), and is skipped with a warning
    otherwise.
    """
    from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

    drivers: dict[str, Any] = getattr(eio_server, "_async", None) or {}
    base = drivers.get("websocket")
    if not (isinstance(base, type) and issubclass(base, SimpleWebSocketWSGI)):
        log.warning("WebSocket transport left as is: %r is not simple-websocket", base)
        return False

    class CompactWebSocket(base):  # type: ignore[valid-type,misc]
        """simple-websocket without extensions, whole text messages framed once."""

        def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            environ.pop(_OFFER, None)  # so the frames below are never compressed
            return super().__call__(environ, start_response)

        def send(self, message: Any) -> Any:
            ws = self.ws
            if (
                type(message) is not str
                or not ws.connected
                or ws.ws.state is not ConnectionState.OPEN
            ):
                return super().send(message)  # the general path: binary, closing, closed
            ws.sock.send(text_frame(message))  # ``send``, as simple-websocket's own
            return None

    eio_server._async = {**drivers, "websocket": CompactWebSocket}
    return True
