"""WebSocket upgrades without permessage-deflate: chat frames are too small to be worth it.

Every browser offers ``permessage-deflate`` in its upgrade and simple-websocket accepts the
offer unconditionally. Then each connection holds its own zlib compressor (with context
takeover the window cannot be shared), created at the first frame the server sends, and every
room broadcast is compressed once per member instead of being written as the same bytes to
all. The fan-out benchmark (``make bench``, README "Performance") measured what that costs on
a replica: about 150 MiB of RSS per 1,000 idle browser connections instead of about 20, and
several times the CPU per delivered message, for frames of a few hundred bytes that deflate
barely shrinks. socket.io's Node server ships with the extension off for the same reasons.

Declining is standard (RFC 7692: a server may ignore the offer) and invisible to clients; the
offer is removed from the request before the WebSocket handshake reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_OFFER = "HTTP_SEC_WEBSOCKET_EXTENSIONS"


def without_compression(wsgi_app: WSGIApp) -> WSGIApp:
    """Wrap ``wsgi_app`` so no WebSocket extension is ever negotiated."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ.pop(_OFFER, None)
        return wsgi_app(environ, start_response)

    return app
