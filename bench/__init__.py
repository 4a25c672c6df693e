"""Benchmarks of livechat, run by ``make bench`` (``python -m bench [name ...]``); never by tests.

Each benchmark is a function returning rows (``Row``: column name to value) and is registered by
name in ``bench/__main__.py``; the dispatcher prints every row in one Markdown table, so the
output can be pasted into docs/performance.md as is.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence

Row = dict[str, str | int | float | None]


def kill_group(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL a server started with ``start_new_session`` and everything it spawned.

    A graceful stop of thousands of sockets is not what the benchmarks measure.
    """
    if proc is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
    proc.wait(10)


def format_table(rows: Sequence[Row]) -> str:
    """One Markdown table over the union of the rows' columns, in order of first appearance."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(column)) for column in columns) + " |")
    return "\n".join(lines)


def _cell(value: str | int | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value.replace("|", "\\|")
