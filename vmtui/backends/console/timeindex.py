"""``console.log.idx``: when each stretch of ``console.log`` was written, and by which source.

``console.log`` stays the plain text a guest printed (what syzkaller's tools
and ``vmtui report`` read). Beside it, the index says where in the file each
source's lines begin and at what wall-clock time: an entry is written when the
source changes, or when at least :data:`RESOLUTION` seconds passed since the
last entry. A line's time and source are those of the last entry at or before
its offset, so a search can merge the logs of many instances on one time axis
and filter by source without reading anything but the file itself.

Entries are fixed-size text records (:data:`RECORD` bytes: the offset in hex,
the time, the source padded), so a reader finds the entry of an offset, or the
offset of a time, by bisection over an mmap, never parsing the whole index.
The index is best effort: a write that fails is skipped (those lines take the
time and source of the entry before), a torn last record is ignored.
"""

from __future__ import annotations

import bisect
import contextlib
import mmap
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

RESOLUTION = 0.01  # seconds: one entry per source run at most this often
SOURCE_WIDTH = 12
RECORD = 16 + 1 + 17 + 1 + SOURCE_WIDTH + 1  # "%016x %017.6f %-12s\n"


def index_path(log: Path) -> Path:
    """Where the index of ``log`` lives (``console.log`` → ``console.log.idx``)."""
    return log.with_name(log.name + ".idx")


def encode(offset: int, time: float, source: str) -> bytes:
    """One record of the index."""
    tag = source.replace(" ", "_").replace("\n", "_")[:SOURCE_WIDTH]
    return f"{offset:016x} {time:017.6f} {tag:<{SOURCE_WIDTH}}\n".encode("ascii", "replace")


class Entry(NamedTuple):
    """From ``offset`` on, lines were written at ``time`` by ``source``."""

    offset: int
    time: float
    source: str


class IndexWriter:
    """Appends entries to the index of one log; never raises."""

    def __init__(self, log: Path) -> None:
        self._fd = -1
        with contextlib.suppress(OSError):
            self._fd = os.open(index_path(log), os.O_WRONLY | os.O_APPEND | os.O_CREAT
                               | os.O_CLOEXEC, 0o600)
        self._source = ""
        self._time = float("-inf")

    def note(self, offset: int, time: float, source: str) -> None:
        """Lines of ``source`` start at ``offset`` of the log, written at ``time``."""
        if self._fd < 0 or (source == self._source and time - self._time < RESOLUTION):
            return
        try:
            os.write(self._fd, encode(offset, time, source))
        except OSError:
            return  # best effort: these lines take the entry before's time
        self._source, self._time = source, time

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class IndexReader:
    """The entries of one index, read by bisection over an mmap.

    An empty or missing index reads as no entries.
    """

    def __init__(self, path: Path) -> None:
        self._map: mmap.mmap | None = None
        self._count = 0
        with contextlib.suppress(OSError, ValueError), open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size >= RECORD:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                self._count = size // RECORD  # a torn last record is left out

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: int) -> Entry:
        assert self._map is not None
        raw = self._map[i * RECORD:(i + 1) * RECORD]
        try:
            return Entry(int(raw[:16], 16), float(raw[17:34]),
                         raw[35:35 + SOURCE_WIDTH].decode("ascii", "replace").rstrip())
        except ValueError:  # a record a crash left half written: no information
            return Entry(0, 0.0, "")

    def offsets(self) -> _Keys:
        return _Keys(self, lambda e: e.offset)

    def times(self) -> _Keys:
        return _Keys(self, lambda e: e.time)

    def at(self, offset: int) -> Entry | None:
        """The entry that covers byte ``offset`` of the log (None: before the first)."""
        i = bisect.bisect_right(self.offsets(), offset) - 1
        return self[i] if i >= 0 else None

    def offset_at(self, time: float) -> int:
        """The offset of the first entry written at ``time`` or later (times grow)."""
        i = bisect.bisect_left(self.times(), time)
        return self[i].offset if i < self._count else -1

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


class _Keys:
    """A sequence view of one field of the entries, for :mod:`bisect`."""

    def __init__(self, reader: IndexReader, key: Callable[[Entry], float]) -> None:
        self._reader, self._key = reader, key

    def __len__(self) -> int:
        return len(self._reader)

    def __getitem__(self, i: int) -> float:
        return self._key(self._reader[i])
