"""The console lines of one instance as they arrived from the daemon, kept
here so the front's cursor reads never wait for the network."""

from __future__ import annotations

import collections
from operator import itemgetter
from typing import Any

from vmtui.backends.console.ring import Line
from vmtui.backends.fleet.control import ConsoleChunk


def chunk_of(data: Any) -> ConsoleChunk:
    """The :class:`ConsoleChunk` a stream message carries.

    ``wire.from_json`` would check every field of every line through the
    type's annotations; a flood brings tens of thousands of lines a second,
    so the lines are unpacked here, each field checked by its type alone.

    Raises:
        ValueError: ``data`` is not a chunk.
    """
    try:
        lines = [(seq, source, text, float(at)) for seq, source, text, at in data["lines"]]
        chunk = ConsoleChunk(lines, data["missed"], data["next_cursor"], data["partial"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a console chunk: {exc}") from None
    for seq, source, text, _ in lines:
        if type(seq) is not int or type(source) is not str or type(text) is not str:
            raise ValueError(f"not a console line: {(seq, source, text)!r}")
    if not (type(chunk.missed) is type(chunk.next_cursor) is int
            and isinstance(chunk.partial, str)):
        raise ValueError("not a console chunk: missed, next_cursor or partial")
    return chunk


def chunk_of_columns(data: Any) -> ConsoleChunk:
    """The :class:`ConsoleChunk` a stream message of the columns form carries
    (``{"op": "console", ..., "form": "columns"}``: four lists, zipped back into
    lines here; every item's type is checked by ``map`` in C, ~0.3 µs a line).

    Raises:
        ValueError: ``data`` is not a chunk in columns.
    """
    try:
        columns = [data["seqs"], data["sources"], data["texts"], data["at"]]
        missed, next_cursor, partial = data["missed"], data["next_cursor"], data["partial"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a console chunk: {exc!r}") from None
    if any(type(c) is not list for c in columns) or len({len(c) for c in columns}) != 1:
        raise ValueError("not a console chunk: seqs, sources, texts and at must be "
                         "lists of one length")
    seqs, sources, texts, ats = columns
    if (not set(map(type, seqs)) <= {int} or not set(map(type, sources)) <= {str}
            or not set(map(type, texts)) <= {str}):
        raise ValueError("not a console chunk: seqs must be whole numbers, "
                         "sources and texts strings")
    at_types = set(map(type, ats))
    if not at_types <= {float, int}:
        raise ValueError("not a console chunk: at must be numbers")
    if int in at_types:
        ats = [float(at) for at in ats]
    if not (type(missed) is type(next_cursor) is int and isinstance(partial, str)):
        raise ValueError("not a console chunk: missed, next_cursor or partial")
    return ConsoleChunk(list(zip(seqs, sources, texts, ats, strict=True)), missed,
                        next_cursor, partial)


class ConsoleMirror:
    """A local ring fed by the stream's console chunks.

    Its cursors are its own: a line's local number is the daemon's plus an
    offset, which moves when the daemon's ring starts over (a restarted
    daemon), so a reader's cursor never goes back. Lines the daemon had
    dropped before the first chunk are not "missed" (a reader starting at
    :meth:`start` never saw them); later gaps in the numbers are.

    Args:
        size: lines held (the pool's ``console_lines``).
    """

    def __init__(self, size: int) -> None:
        self.lines: collections.deque[Line] = collections.deque(maxlen=max(1, size))
        self.offset = 0  # local number = daemon number + offset
        self.next = 0  # local number after the newest line known
        self.base: int | None = None  # local number of the oldest line the daemon held at first
        self.partial = ""

    def server_cursor(self) -> int:
        """Where the daemon should go on from (its own numbering)."""
        return self.next - self.offset

    def start(self) -> int:
        """The cursor of the oldest line held here."""
        if self.lines:
            return self.lines[0][0]
        return self.next if self.base is None else max(self.base, self.next)

    def add(self, chunk: ConsoleChunk, asked: int) -> bool:
        """Take ``chunk`` (the daemon's answer from its cursor ``asked`` on).

        Returns False when it shows the daemon's ring started over (a cursor
        beyond its newest line): the mirror then renumbers, and the caller
        asks again from the daemon's cursor 0.
        """
        if chunk.next_cursor < asked:
            self.renumber()
            return False
        if self.base is None:
            self.base = asked + chunk.missed + self.offset
        lines = chunk.lines
        if (lines and not self.offset and lines[0][0] >= self.next
                and list(map(itemgetter(0), lines)) == list(range(lines[0][0],
                                                                  lines[0][0] + len(lines)))):
            # The usual chunk: numbers in a row after ours, none renumbered.
            self.lines.extend(lines)
            self.next = lines[-1][0] + 1
            lines = []
        for seq, source, text, at in lines:
            local = seq + self.offset
            if local >= self.next:
                self.lines.append((local, source, text, at))
                self.next = local + 1
        self.next = max(self.next, chunk.next_cursor + self.offset)
        self.partial = chunk.partial
        return True

    def renumber(self) -> None:
        """The daemon's ring started over: its line 0 comes after every line here."""
        self.offset = self.next
        self.partial = ""

    def since(self, cursor: int) -> ConsoleChunk:
        """The lines held from ``cursor`` on, as the daemon's ring would answer."""
        if cursor >= self.next:
            return ConsoleChunk([], 0, max(cursor, self.next), self.partial)
        start = max(cursor, self.base or 0)
        found: list[Line] = []
        for line in reversed(self.lines):  # the newest are what a reader wants
            if line[0] < start:
                break
            found.append(line)
        found.reverse()
        missed = max(0, self.next - start - len(found))
        return ConsoleChunk(found, missed, self.next, self.partial)


class Consoles(dict[str, ConsoleMirror]):
    """The mirrors of the consoles read, by instance, and the daemon run they mirror."""

    run = ""  # the daemon run (its id from /version and the stream) mirrored here

    def follow(self, run: object) -> bool:
        """Take the daemon's run id; True when it is another run than the one
        mirrored (a restarted daemon): every mirror then renumbers, so the new
        run's lines come after every line held, never spliced at an old cursor
        (its ring starts again at 0, and may have passed the old cursor already)."""
        if not isinstance(run, str) or not run or run == self.run:
            return False
        known, self.run = self.run, run
        if not known:
            return False
        for mirror in self.values():
            mirror.renumber()
        return True
