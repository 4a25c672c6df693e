"""Chat state backends behind one interface (see ``base.Store``)."""

from __future__ import annotations

from app.config import Settings
from app.store.base import HistoryPage, Message, Store, StoreUnavailable
from app.store.memory import MemoryStore

__all__ = ["HistoryPage", "MemoryStore", "Message", "Store", "StoreUnavailable", "make_store"]


def make_store(settings: Settings, origin: str | None = None) -> Store:
    """The Redis store when ``REDIS_URL`` is set, else the in-process one.

    ``origin``: the message queue's host id, with which the Redis store marks what it publishes.
    """
    if settings.redis_url:
        from app.store.redis import RedisStore

        return RedisStore(settings, origin)
    return MemoryStore(settings.history_limit, settings.room_ttl_seconds)
