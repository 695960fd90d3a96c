"""``console.log`` on disk: whole lines, and a full disk never stops the console.

Each source's whole lines are written as one write, so two sources flooding
together never splice mid-line. When a write fails (the disk is full, the
workdir went read-only) the error is reported once, the lines wait in memory
(a bounded backlog: the oldest go first, counted) and the next write tries
again after a pause. The console itself is read on regardless.

Every line on disk stays whole. A write the disk took only in part (a full
disk takes what fits, then says ENOSPC) leaves the rest of that one line at
the head of the backlog, never dropped: it is the first thing written when
the disk takes writes again, and if the log is closed first the file is cut
back to the line's start. The lines the backlog dropped are missing exactly
between what reached the file and what waits, so the note that says how many
is written there, before the first line after the gap.

Beside the file, ``console.log.idx`` (see ``timeindex``) says when and by
which source each stretch was written, for the search across instances. An
entry is made when a write finds the file healthy and nothing waiting; lines
written after a failure take the time and source of the entry before them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import os
import time
from collections.abc import Callable
from pathlib import Path

from vmtui.backends.console.timeindex import IndexWriter

Clock = Callable[[], float]


class ConsoleLog:
    """An append-only log that never raises on write.

    Args:
        path: the file, created 0600 (only its owner reads what a guest printed).
        on_trouble: called with a sentence when writing fails and when it
            works again (the fleet shows it on the instance).
        retry: seconds between tries while writing fails.
        backlog: bytes kept in memory while writing fails.
    """

    def __init__(self, path: Path, on_trouble: Callable[[str], None], *,
                 retry: float = 1.0, backlog: int = 8 << 20, clock: Clock = time.monotonic,
                 wallclock: Clock = time.time) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._size = os.fstat(self._fd).st_size  # where the next byte lands
        self._index = IndexWriter(path)
        self._wallclock = wallclock
        self._on_trouble = on_trouble
        self._retry = retry
        self._clock = clock
        # Whole lines waiting, oldest first; while ``_torn`` is set the first is
        # the rest of a line whose first ``_torn_written`` bytes are on disk.
        self._pending: collections.deque[bytes] = collections.deque()
        self._pending_bytes = 0
        self._torn = False
        self._torn_written = 0
        self._gap = False  # writing failed since the last note: one is due where it resumes
        self._backlog = backlog
        self._retry_at = 0.0
        self._timer: asyncio.TimerHandle | None = None  # the next try, while failing
        self.error = ""  # why writing fails, while it does
        self.lost_lines = 0  # lines dropped from the backlog, not yet noted in the file
        self.written = 0
        if _ends_mid_line(path):  # a vmtui killed while the disk held part of a line
            self.write(b"\n")

    def write(self, data: bytes) -> None:
        """Append ``data`` (whole lines of vmtui's own), now or once the file takes it."""
        self.write_from("vmtui", data)

    def write_from(self, source: str, data: bytes) -> None:
        """Append ``data`` (whole lines of ``source``), now or once the file takes it."""
        if data and not self._pending and not self.error:
            self._index.note(self._size, self._wallclock(), source)
        if data:
            self._pending.append(data)
            self._pending_bytes += len(data)
        if self.error and self._clock() < self._retry_at:
            self._bound()
            return
        self._flush()

    def _flush(self) -> None:
        while self._pending or self._gap:
            note = self._gap and not self._torn
            if note:  # the file resumes here: the note first, where the gap is
                self._pending.appendleft(self._note())
                self._pending_bytes += len(self._pending[0])
            try:
                done = os.write(self._fd, self._pending[0])
                if done <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            except OSError as exc:
                if note:  # not a byte of it: written when the file resumes, still at the gap
                    self._pending_bytes -= len(self._pending.popleft())
                self._failed(exc)
                return
            if note:
                self._gap = False
                self.lost_lines = 0
            self._took(done)
        if self.error:
            self.error = ""
            self._on_trouble("")

    def _took(self, done: int) -> None:
        """The file took the first ``done`` bytes of the first chunk."""
        chunk = self._pending[0]
        self.written += done
        self._size += done
        self._pending_bytes -= done
        if done == len(chunk):
            self._pending.popleft()
            self._torn, self._torn_written = False, 0
            return
        start = chunk.rfind(b"\n", 0, done) + 1  # where the line the write cut began
        end = chunk.find(b"\n", done) + 1 or len(chunk)
        if start == done:  # cut between two lines: what waits is whole lines
            self._pending[0] = chunk[done:]
            self._torn, self._torn_written = False, 0
            return
        self._torn_written = done - start + (self._torn_written if self._torn else 0)
        self._torn = True
        self._pending[0] = chunk[done:end]
        if end < len(chunk):
            self._pending.insert(1, chunk[end:])

    def _note(self) -> bytes:
        lost = self.lost_lines
        what = (f"; {lost} line(s) did not fit in memory meanwhile and are missing here"
                if lost else "; nothing was lost")
        return f"[vmtui] console.log writable again{what}\n".encode()

    def _failed(self, exc: OSError) -> None:
        self._retry_at = self._clock() + self._retry
        self._gap = True
        self._bound()
        if self._timer is None:  # a quiet console still gets its backlog written
            with contextlib.suppress(RuntimeError):  # no loop: the next write tries
                self._timer = asyncio.get_running_loop().call_later(self._retry, self._again)
        reason = exc.strerror or str(exc)
        if self.error != reason:
            self.error = reason
            self._on_trouble(f"console.log cannot be written ({reason}); the console is "
                             f"still read, its lines wait in memory until the file takes them")

    def _again(self) -> None:
        self._timer = None
        if not self.closed:
            self._flush()

    def _bound(self) -> None:
        """Drop the oldest whole lines past the backlog (never a torn line's rest)."""
        keep = 2 if self._torn else 1
        while self._pending_bytes > self._backlog and len(self._pending) > keep:
            if self._torn:
                head = self._pending.popleft()
                dropped = self._pending.popleft()
                self._pending.appendleft(head)
            else:
                dropped = self._pending.popleft()
            self._pending_bytes -= len(dropped)
            self.lost_lines += dropped.count(b"\n")

    def close(self) -> None:
        """Write what waits (if the file takes it now) and close.

        A line the file took only in part is cut off again: the file ends
        with a whole line, and the next boot's log starts on a line of its own.
        """
        if self._fd < 0:
            return
        self._flush()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._torn:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, os.fstat(self._fd).st_size - self._torn_written)
                self.written -= self._torn_written
                self._size -= self._torn_written
                self.lost_lines += 1
                self._torn, self._torn_written = False, 0
        os.close(self._fd)
        self._fd = -1
        self._index.close()

    @property
    def closed(self) -> bool:
        return self._fd < 0


def _ends_mid_line(path: Path) -> bool:
    """Whether ``path`` ends inside a line (its last byte is not a newline)."""
    try:
        with path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except OSError:  # empty (no byte before the end), or unreadable: nothing to mend
        return False
