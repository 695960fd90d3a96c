"""A bounded console buffer with absolute line numbers.

Readers keep a cursor (the sequence number of the next line they want) and
ask for everything since it; when the ring has moved past their cursor they
learn how many lines they missed. Nothing here blocks. A reader may
:meth:`listen` instead of polling: its callback runs after each store.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
from collections.abc import Callable
from typing import Final

# One console line as the UI sees it (text decoded, not yet sanitised): an
# exact tuple (seq, source, text, time). The cyclic collector stops tracking
# an exact tuple of atomic values the first time it sees one; it tracks a
# NamedTuple (a subclass) for ever, and rings hold 10,000 lines per instance.
Line = tuple[int, str, str, float]
SEQ: Final = 0
SOURCE: Final = 1
TEXT: Final = 2
TIME: Final = 3


class ConsoleRing:
    """The last ``maxlen`` lines of one instance's merged output."""

    def __init__(self, maxlen: int = 10000) -> None:
        self._lines: collections.deque[Line] = collections.deque(maxlen=maxlen)
        self.next_seq = 0
        self.bytes_in = 0  # bytes of the VM's output stored (newlines too; not vmtui's notes)
        self._listeners: list[Callable[[], None]] = []

    def listen(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every store (in the storing task: it must be
        cheap and must not raise, e.g. set an event)."""
        self._listeners.append(callback)

    def unlisten(self, callback: Callable[[], None]) -> None:
        """Stop calling ``callback`` (nothing happens when it was not listening)."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(callback)

    def append(self, source: str, text: str, time: float) -> Line:
        """Store a line and return it with its sequence number."""
        line = (self.next_seq, source, text, time)
        self._lines.append(line)
        self.next_seq += 1
        for listener in self._listeners:
            listener()
        return line

    def extend(self, source: str, texts: list[str], time: float) -> None:
        """Store many lines from one source at once (a flood's common case)."""
        seq = self.next_seq
        self._lines.extend(zip(range(seq, seq + len(texts)), itertools.repeat(source),
                               texts, itertools.repeat(time)))
        self.next_seq = seq + len(texts)
        for listener in self._listeners:
            listener()

    @property
    def first_seq(self) -> int:
        """Sequence number of the oldest line still held."""
        return self.next_seq - len(self._lines)

    def since(self, cursor: int) -> tuple[list[Line], int]:
        """Lines from ``cursor`` on, and how many before them were already gone."""
        first = self.first_seq
        missed = max(0, first - cursor)
        start = max(cursor, first) - first
        if start >= len(self._lines):
            return [], missed
        return list(itertools.islice(self._lines, start, None)), missed

    def tail(self, count: int) -> list[Line]:
        """The newest ``count`` lines, oldest first (read from the newest end:
        a listing asks every instance for its last line)."""
        if count <= 0:
            return []
        lines = list(itertools.islice(reversed(self._lines), count))
        lines.reverse()
        return lines

    def __len__(self) -> int:
        return len(self._lines)
