"""Many byte streams in, whole source-tagged lines out.

Like syzkaller's ``vmimpl.OutputMerger``: each source (the serial console,
QEMU's own stderr, a guest command's stdout and stderr) is read by its own
task. Each source's whole lines go to the tee (the log on disk) as one write
the moment they are complete, so the log keeps everything and two sources
flooding together never splice a line; the same lines go to a bounded queue for
consumers. A slow consumer never stalls a source: when the queue is full the
oldest lines are dropped (and counted), never the lines on disk.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

# One line from one source, without its line terminator: an exact tuple
# (source, data, error), which the cyclic collector soon stops tracking (a
# NamedTuple it would track). ``error`` is set (and ``data`` empty) on the
# last chunk of a source whose read failed, so consumers learn of it in order.
Chunk = tuple[str, bytes, BaseException | None]


class ByteReader(Protocol):
    """What a source must offer: asyncio.StreamReader has it."""

    async def read(self, n: int = -1) -> bytes: ...


class Tee(Protocol):
    """Where whole lines go as they complete (the log on disk)."""

    def write(self, data: bytes, /) -> Any: ...


@runtime_checkable
class SourceTee(Protocol):
    """A tee that keeps which source wrote each run of lines (the log on disk)."""

    def write_from(self, source: str, data: bytes, /) -> Any: ...


class Pacer:
    """Shared by every merger of a fleet: sources back off while the UI lags.

    The front end sets ``busy`` when its event loop falls behind; a source
    then waits a moment before its next read. A paused pipe read only makes
    the writer (QEMU's serial port) wait: nothing is lost.
    """

    def __init__(self, pause: float = 0.01) -> None:
        self.busy = False
        self.pause = pause

    async def wait(self) -> None:
        if self.busy:
            await asyncio.sleep(self.pause)


class OutputMerger:
    """Merges byte streams into whole lines tagged with their source.

    Args:
        tee: receives each source's whole lines (with their newline) as they complete.
        max_queued: lines kept for consumers before the oldest are dropped.
        max_line: a longer line is cut into pieces of this many bytes.
        tail_bytes: how much raw output :meth:`tail` remembers.
    """

    def __init__(self, *, tee: Tee | None = None, max_queued: int = 20000,
                 max_line: int = 64 * 1024, tail_bytes: int = 64 * 1024,
                 pacer: Pacer | None = None) -> None:
        self.pacer = pacer or Pacer()
        self._tee = tee
        self._tagged = tee if isinstance(tee, SourceTee) else None
        self._max_line = max_line
        self._queue: collections.deque[Chunk] = collections.deque()
        self._max_queued = max_queued
        self._ready = asyncio.Event()
        self._partial: dict[str, bytes] = {}
        self._tags: dict[str, str] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._tail = bytearray()
        self._tail_bytes = tail_bytes
        self._closed = False
        self.errors: dict[str, BaseException] = {}
        self.dropped = 0
        self.total_bytes = 0
        # Set whenever a source says something (whoever waits on it clears it):
        # a boot's SSH probe comes sooner when the guest prints.
        self.activity = asyncio.Event()

    # -- producers -----------------------------------------------------------

    def add(self, name: str, reader: ByteReader) -> None:
        """Start reading ``reader`` as source ``name`` until EOF."""
        if name in self._tasks and not self._tasks[name].done():
            raise ValueError(f"source {name!r} is already being read")
        self._partial.setdefault(name, b"")
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._pump(name, reader), name=f"merger:{name}")

    def feed(self, name: str, data: bytes, tag: str | None = None) -> None:
        """Push bytes from a source that is not a reader (a callback API).

        ``tag`` is the source shown on its lines when several streams share
        one (two commands' stdout): ``name`` keeps their partial lines apart.
        """
        if not data:
            return
        if tag is not None:
            self._tags[name] = tag
        self.total_bytes += len(data)
        self.activity.set()
        self._remember(data)
        self._split(name, data)

    def eof(self, name: str, error: BaseException | None = None) -> None:
        """Say that a pushed source ended: flush its partial line."""
        tag = self._tags.pop(name, name)
        rest = self._partial.pop(name, b"")
        if rest:
            self._emit((tag, rest, None))
            self._to_tee(tag, rest + b"\n")
        if error is not None:
            self.errors[name] = error
            self._emit((tag, b"", error))

    async def _pump(self, name: str, reader: ByteReader) -> None:
        error: BaseException | None = None
        try:
            while data := await reader.read(65536):
                self.feed(name, data)
                await self.pacer.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc
        finally:
            self.eof(name, error)

    def _split(self, name: str, data: bytes) -> None:
        tag = self._tags.get(name, name)
        # The CR ending a line goes (a serial console sends CRLF), also when
        # the previous read ended between the two.
        partial = self._partial.get(name, b"")
        if partial.endswith(b"\r") and data.startswith(b"\n"):
            partial = partial[:-1]
        parts = data.replace(b"\r\n", b"\n").split(b"\n")
        parts[0] = partial + parts[0]
        rest = parts.pop()
        if parts and self._tee is not None:
            parts.append(b"")  # the last line's newline, on disk
            self._to_tee(tag, b"\n".join(parts))
            parts.pop()
        limit = self._max_line
        if max(map(len, parts), default=0) <= limit:
            # The common case: queue a whole read at once, at C speed.
            self._queue.extend(zip(itertools.repeat(tag), parts, itertools.repeat(None)))
        else:
            for line in parts:
                self._emit_line(tag, line)
        while len(rest) >= limit:
            self._queue.append((tag, rest[:limit], None))
            self._to_tee(tag, rest[:limit] + b"\n")
            rest = rest[limit:]
        self._partial[name] = rest
        self._trim()

    def _to_tee(self, tag: str, data: bytes) -> None:
        if self._tagged is not None:
            self._tagged.write_from(tag, data)
        elif self._tee is not None:
            self._tee.write(data)

    def _emit_line(self, name: str, line: bytes) -> None:
        while len(line) > self._max_line:
            self._queue.append((name, line[: self._max_line], None))
            line = line[self._max_line:]
        self._queue.append((name, line, None))

    def _emit(self, chunk: Chunk) -> None:
        self._queue.append(chunk)
        self._trim()

    def _trim(self) -> None:
        excess = len(self._queue) - self._max_queued
        if excess > 0:
            for _ in range(excess):
                self._queue.popleft()
            self.dropped += excess
        if self._queue:
            self._ready.set()

    def _remember(self, data: bytes) -> None:
        self._tail += data[-self._tail_bytes:]
        if len(self._tail) > self._tail_bytes:
            del self._tail[: len(self._tail) - self._tail_bytes]

    # -- consumers -----------------------------------------------------------

    def drain(self) -> list[Chunk]:
        """Every queued line, at once; never waits."""
        chunks = list(self._queue)
        self._queue.clear()
        self._ready.clear()
        return chunks

    async def _wait_lines(self) -> bool:
        """Wait until a line is queued; False once closed and empty."""
        while not self._queue:
            if self._closed and self._all_done():
                return False
            self._ready.clear()
            await self._ready.wait()
        return True

    async def get_batch(self) -> list[Chunk] | None:
        """Every queued line, waiting for at least one; None once closed and empty."""
        return self.drain() if await self._wait_lines() else None

    async def get(self) -> Chunk | None:
        """The next line, waiting for one; None once closed and empty."""
        return self._queue.popleft() if await self._wait_lines() else None

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        while (chunk := await self.get()) is not None:
            yield chunk

    def partial(self, name: str) -> bytes:
        """What source ``name`` has sent since its last newline (a prompt)."""
        return self._partial.get(name, b"")

    def tail(self) -> bytes:
        """The last raw bytes seen from any source (for error reports)."""
        return bytes(self._tail)

    # -- lifetime ------------------------------------------------------------

    def _all_done(self) -> bool:
        return all(task.done() for task in self._tasks.values())

    async def wait_sources(self, timeout: float | None = None) -> bool:
        """Wait until every source added so far reached EOF; False on timeout."""
        pending = [t for t in self._tasks.values() if not t.done()]
        if not pending:
            return True
        done, _ = await asyncio.wait(pending, timeout=timeout)
        return len(done) == len(pending)

    async def close(self) -> None:
        """Stop reading every source, flush partial lines, end iteration."""
        self._closed = True
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for name in list(self._partial):
            self.eof(name)
        self._ready.set()
