"""An on-disk FIFO of records for when Kafka is unreachable, replayed in order.

Records are appended as ``key<TAB>value<LF>`` lines to numbered segment files of about
4 MiB. A read position walks the spool (records handed to the producer) and a separate
acknowledged position, persisted in ``cursor``, marks what Kafka has confirmed; a restart
replays from the acknowledged position, so nothing confirmed is replayed after an orderly
shutdown (after a crash, a few records may be sent twice). Segments wholly behind the
acknowledged position are deleted. Not thread-safe: the Kafka sink holds its lock around it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, NamedTuple

from ingest.records import Record

log = logging.getLogger(__name__)
SEGMENT_BYTES = 4 << 20
_SUFFIX = ".spool"
_CURSOR_EVERY = 0.2  # seconds between cursor writes while acknowledgements stream in


class Position(NamedTuple):
    """Where a record ends: segment number and the byte offset just past its line."""

    segment: int
    offset: int


class Spool:
    """Append-only segments with a read position and a persisted acknowledged position."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._segments = sorted(
            int(p.stem) for p in directory.glob(f"*{_SUFFIX}") if p.stem.isdigit()
        )
        self._acked = self._load_cursor()
        self._segments = [s for s in self._segments if s >= self._acked.segment] or [
            self._acked.segment
        ]
        for path in directory.glob(f"*{_SUFFIX}"):
            if path.stem.isdigit() and int(path.stem) < self._segments[0]:
                path.unlink()
        self._read = self._acked
        self._reader: IO[bytes] | None = None
        self._writer: IO[bytes] | None = None
        self._bytes = sum(self._size(s) for s in self._segments)
        self._records = self._count_from(self._acked)
        self._unread = self._records
        self._cursor_written = 0.0
        self._appended_positions: list[Position] = []

    # -- public ---------------------------------------------------------------------------

    @property
    def records(self) -> int:
        """Records not yet acknowledged by Kafka (the spool depth)."""
        return self._records

    @property
    def size_bytes(self) -> int:
        """Bytes of the segment files on disk."""
        return self._bytes

    def has_unread(self) -> bool:
        return self._unread > 0

    def append(self, records: Iterable[Record], *, already_read: bool = False) -> list[Record]:
        """Append ``records`` in order; return those that did not fit (the caller drops them).

        ``already_read`` is for records already handed to the producer (only valid while
        nothing is unread): they get positions for their acknowledgement, but the reader
        skips them.
        """
        if already_read and self._unread:
            raise RuntimeError("already_read appends need an empty read queue")
        rejected: list[Record] = []
        positions: list[Position] = []
        writer = None
        for record in records:
            line = record.key.encode() + b"\t" + record.value + b"\n"
            if self._bytes + len(line) > self.max_bytes:
                rejected.append(record)
                continue
            if writer is None or writer.tell() >= SEGMENT_BYTES:
                writer = self._tail_writer()
            writer.write(line)
            self._bytes += len(line)
            self._records += 1
            positions.append(Position(self._segments[-1], writer.tell()))
            if not already_read:
                self._unread += 1
        if writer is not None:
            writer.flush()
        if already_read and positions:
            self._read = positions[-1]
            self._close_reader()
        self._appended_positions = positions
        return rejected

    @property
    def last_positions(self) -> list[Position]:
        """Positions of the records the last :meth:`append` wrote, in order."""
        return self._appended_positions

    def read(self) -> tuple[Record, Position] | None:
        """The next unread record and where it ends, or None when all are read."""
        while self._unread:
            reader = self._open_reader()
            line = reader.readline()
            if line.endswith(b"\n"):
                self._read = Position(self._read.segment, self._read.offset + len(line))
                self._unread -= 1
                key, _, value = line[:-1].partition(b"\t")
                return Record(key.decode(), value, "spooled", ""), self._read
            # End of this segment (or a torn last line from a crash): move to the next one.
            later = [s for s in self._segments if s > self._read.segment]
            if not later:
                log.warning("spool: %d records counted but not readable; resetting", self._unread)
                self._unread = 0
                break
            self._read = Position(later[0], 0)
            self._close_reader()
        return None

    def ack(self, position: Position) -> None:
        """Kafka confirmed every record up to ``position``."""
        if position <= self._acked:
            return
        self._acked = position
        self._records = max(0, self._records - 1)
        for segment in [s for s in self._segments if s < position.segment]:
            self._delete(segment)
        if self._records == 0 and not self._unread:
            self._reset()
        if time.monotonic() - self._cursor_written > _CURSOR_EVERY:
            self._write_cursor()

    def close(self) -> None:
        """Persist the acknowledged position and close files."""
        self._write_cursor()
        self._close_reader()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- internals ------------------------------------------------------------------------

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:012d}{_SUFFIX}"

    def _size(self, segment: int) -> int:
        try:
            return self._path(segment).stat().st_size
        except FileNotFoundError:
            return 0

    def _load_cursor(self) -> Position:
        try:
            segment, offset = (self.directory / "cursor").read_text().split()
            return Position(int(segment), int(offset))
        except (FileNotFoundError, ValueError):
            return Position(self._segments[0] if self._segments else 1, 0)

    def _write_cursor(self) -> None:
        tmp = self.directory / "cursor.tmp"
        tmp.write_text(f"{self._acked.segment} {self._acked.offset}\n")
        os.replace(tmp, self.directory / "cursor")
        self._cursor_written = time.monotonic()

    def _count_from(self, position: Position) -> int:
        count = 0
        for segment in self._segments:
            if segment < position.segment:
                continue
            with self._path(segment).open("ab+") as f:
                f.seek(position.offset if segment == position.segment else 0)
                count += sum(1 for line in f if line.endswith(b"\n"))
        return count

    def _tail_writer(self) -> IO[bytes]:
        if self._writer is not None and self._writer.tell() >= SEGMENT_BYTES:
            self._writer.close()
            self._writer = None
            self._segments.append(self._segments[-1] + 1)
        if self._writer is None:
            self._writer = self._path(self._segments[-1]).open("ab")
        return self._writer

    def _open_reader(self) -> IO[bytes]:
        if self._reader is None:
            self._reader = self._path(self._read.segment).open("rb")
            self._reader.seek(self._read.offset)
        return self._reader

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _delete(self, segment: int) -> None:
        if segment == self._segments[-1]:
            return
        self._bytes -= self._size(segment)
        self._path(segment).unlink(missing_ok=True)
        self._segments.remove(segment)

    def _reset(self) -> None:
        """Everything is acknowledged: start over with one empty segment."""
        self._close_reader()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for segment in self._segments:
            self._path(segment).unlink(missing_ok=True)
        next_segment = self._segments[-1] + 1
        self._segments = [next_segment]
        self._acked = self._read = Position(next_segment, 0)
        self._bytes = 0
        self._write_cursor()
