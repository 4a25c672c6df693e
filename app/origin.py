"""Which browser origins may talk to this server, and who the client is behind proxies.

One rule for the Socket.IO endpoint and for ``POST /api/rooms``: a request that carries an
``Origin`` header must come from an allowed origin. By default (``CORS_ALLOWED_ORIGINS`` unset)
that is the server's own origin, ``scheme://host`` of the request. Behind a proxy or ingress,
``TRUSTED_PROXY_HOPS`` says how many proxies in front of the server to believe: werkzeug's
``ProxyFix`` then takes the client address, scheme and host from the last that many entries of
``X-Forwarded-For``/``-Proto``/``-Host``. With the default of 0 those headers are ignored, so a
client cannot claim another address or make its own origin look like ours (python-engineio's
built-in check believed ``X-Forwarded-Host`` from anyone).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from werkzeug.middleware.proxy_fix import ProxyFix

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case, default ports dropped; None if not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def own_origin(environ: dict[str, Any]) -> str | None:
    """This request's own origin: its scheme and ``Host`` (after the trusted proxy hops)."""
    host = environ.get("HTTP_HOST")
    if not host:
        return None
    return normalize_origin(f"{environ.get('wsgi.url_scheme', 'http')}://{host}")


def origin_policy(allowed: str | list[str] | None) -> Callable[[str, dict[str, Any]], bool]:
    """The check for ``CORS_ALLOWED_ORIGINS``, in the form python-engineio accepts as a callable."""
    listed = (
        None
        if allowed is None or allowed == "*"
        else {n for n in (normalize_origin(o) for o in allowed) if n}
    )

    def allowed_origin(origin: str, environ: dict[str, Any]) -> bool:
        if allowed == "*":
            return True
        candidate = normalize_origin(origin or "")
        if candidate is None:
            return False
        if listed is not None:
            return candidate in listed
        return candidate == own_origin(environ)

    return allowed_origin


def cross_origin(environ: dict[str, Any], policy: Callable[[str, dict[str, Any]], bool]) -> bool:
    """True for a browser request from an origin the policy refuses (no ``Origin``: not one)."""
    origin = str(environ.get("HTTP_ORIGIN") or "")
    return bool(origin) and not policy(origin, environ)


def trust_proxies(wsgi_app: Any, hops: int) -> Any:
    """Wrap ``wsgi_app`` so the environ describes the client as the trusted proxies saw it."""
    if hops <= 0:
        return wsgi_app
    return ProxyFix(wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=0, x_prefix=0)
