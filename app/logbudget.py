"""Logging that a client cannot turn into a flood: a fixed budget of lines per interval.

Anything a client can trigger at will (a malformed packet, a refused connection) is logged
through a ``LogBudget``: the first ``lines`` records of each ``interval`` go out, the rest are
only counted, and the next record that fits the budget says how many were left out. The same
budget guards the third-party loggers that log per packet (python-engineio, python-socketio,
gunicorn's error log) as a ``logging.Filter``, so a code path nobody thought of still cannot
write a traceback per packet: beyond the budget their records are dropped and counted too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

#: Lines per interval for each budget; a client sending garbage as fast as it can gets these.
DEFAULT_LINES = 10
DEFAULT_INTERVAL_SECONDS = 60.0

#: Loggers of the libraries between the socket and our handlers.
WIRE_LOGGERS = ("engineio.server", "socketio.server", "gunicorn.error", "geventwebsocket")


class LogBudget:
    """At most ``lines`` records per ``interval`` seconds; the excess is counted, not written."""

    def __init__(
        self,
        lines: int = DEFAULT_LINES,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lines = lines
        self.interval = interval
        self._clock = clock
        self._window_start = clock()
        self._used = 0
        self.suppressed = 0  # records left out since the last one written

    def take(self) -> int | None:
        """None if over budget (the record is counted as suppressed), else how many were."""
        now = self._clock()
        if now - self._window_start >= self.interval:
            self._window_start, self._used = now, 0
        if self._used >= self.lines:
            self.suppressed += 1
            return None
        self._used += 1
        left_out, self.suppressed = self.suppressed, 0
        return left_out

    def log(self, logger: logging.Logger, level: int, msg: str, *args: object) -> None:
        left_out = self.take()
        if left_out is None:
            return
        if left_out:
            msg += " (%d similar lines left out)"
            args = (*args, left_out)
        logger.log(level, msg, *args)


class BudgetFilter(logging.Filter):
    """A ``LogBudget`` as a logging filter, for loggers whose calls we do not own."""

    def __init__(self, budget: LogBudget) -> None:
        super().__init__()
        self.budget = budget

    def filter(self, record: logging.LogRecord) -> bool:
        left_out = self.budget.take()
        if left_out is None:
            return False
        if left_out:
            record.msg = f"{record.msg} ({left_out} similar lines left out)"
        return True


def guard_wire_loggers(budget: LogBudget | None = None) -> BudgetFilter:
    """Put one shared budget on every library logger between the socket and our handlers."""
    log_filter = BudgetFilter(budget or LogBudget())
    for name in WIRE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, BudgetFilter) for f in logger.filters):
            logger.addFilter(log_filter)
    return log_filter
