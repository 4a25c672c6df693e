"""A python-socketio client that records every event, for asserting what a user would see."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import socketio

Event = tuple[str, Any]


class RecordingClient:
    """Connects with the real Socket.IO client (WebSocket transport) and keeps all events."""

    def __init__(self, url: str, transports: list[str] | None = None) -> None:
        self.url = url
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", self._record)
        self.sio.connect(url, transports=transports or ["websocket"], wait_timeout=10)

    def _record(self, event: str, data: Any = None) -> None:
        with self._cond:
            self.events.append((event, data))
            self._cond.notify_all()

    def emit(self, event: str, data: Any = None) -> None:
        self.sio.emit(event, data)

    def call(self, event: str, data: Any = None, timeout: float = 10) -> Any:
        return self.sio.call(event, data, timeout=timeout)

    def of(self, event: str) -> list[Any]:
        with self._cond:
            return [data for name, data in self.events if name == event]

    def wait_for(
        self,
        event: str,
        predicate: Callable[[Any], bool] = lambda _: True,
        timeout: float = 10,
    ) -> Any:
        """The first recorded ``event`` whose payload satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for name, data in self.events:
                    if name == event and predicate(data):
                        return data
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no {event!r} matching within {timeout} s; got {self.events[-10:]}"
                    )
                self._cond.wait(remaining)

    def clear(self) -> None:
        with self._cond:
            self.events.clear()

    @property
    def connected(self) -> bool:
        return bool(self.sio.connected)

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()
