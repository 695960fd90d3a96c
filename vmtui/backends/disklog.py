"""``console.log`` on disk: whole lines, and a full disk never stops the console.

Each source's whole lines are written as one write, so two sources flooding
together never splice mid-line. When a write fails (the disk is full, the
workdir went read-only) the error is reported once, the lines wait in memory
(a bounded backlog: the oldest go first, counted) and the next write tries
again after a pause; when space returns the backlog is written and a line says
what could not be kept. The console itself is read on regardless.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

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
                 ) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._on_trouble = on_trouble
        self._retry = retry
        self._clock = clock
        self._pending: collections.deque[bytes] = collections.deque()
        self._pending_bytes = 0
        self._backlog = backlog
        self._retry_at = 0.0
        self._timer: asyncio.TimerHandle | None = None  # the next try, while failing
        self.error = ""  # why writing fails, while it does
        self.lost_lines = 0  # lines dropped from the backlog while it failed
        self.written = 0

    def write(self, data: bytes) -> None:
        """Append ``data`` (whole lines), now or once the file takes it."""
        if data:
            self._pending.append(data)
            self._pending_bytes += len(data)
        if self.error and self._clock() < self._retry_at:
            self._bound()
            return
        self._flush()

    def _flush(self) -> None:
        while self._pending:
            chunk = self._pending[0]
            try:
                done = os.write(self._fd, chunk)
            except OSError as exc:
                self._failed(exc)
                return
            self.written += done
            self._pending_bytes -= done
            if done < len(chunk):
                self._pending[0] = chunk[done:]
            else:
                self._pending.popleft()
        if self.error:
            self._recovered()

    def _failed(self, exc: OSError) -> None:
        self._retry_at = self._clock() + self._retry
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
        while self._pending_bytes > self._backlog and len(self._pending) > 1:
            dropped = self._pending.popleft()
            self._pending_bytes -= len(dropped)
            self.lost_lines += dropped.count(b"\n")

    def _recovered(self) -> None:
        lost, self.lost_lines = self.lost_lines, 0
        self.error = ""
        what = (f"; {lost} line(s) did not fit in memory meanwhile and are missing here"
                if lost else "; nothing was lost")
        note = f"[vmtui] console.log writable again{what}\n".encode()
        try:
            self.written += os.write(self._fd, note)
        except OSError:
            pass
        self._on_trouble("")

    def close(self) -> None:
        """Write what waits (if the file takes it now) and close."""
        if self._fd < 0:
            return
        self._flush()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        os.close(self._fd)
        self._fd = -1

    @property
    def closed(self) -> bool:
        return self._fd < 0
