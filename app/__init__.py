"""livechat's chat server. ``create_app`` builds a fully wired Flask + Flask-SocketIO app.

The factory lives in ``app.factory`` and is imported lazily: gunicorn's master imports
``app.gunicorn_conf`` (and so this package) before the gevent worker monkey-patches, and
must not pull in Flask-SocketIO, redis or ssl that early.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from app.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """See ``app.factory.create_app``."""
    from app.factory import create_app as factory

    return factory(settings)
