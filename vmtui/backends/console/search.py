"""Search the console logs of many instances on one time axis.

The logs on disk (``console.log`` and rotated ``console.log.N`` beside it)
are searched by ripgrep, one process per file, as many at once as there are
CPUs: it streams each file (never held whole in memory here) and stops at
the hit count asked for. Each file's index (``timeindex``) gives every hit
its time and source, and narrows a time window to the byte range written in
it before ripgrep reads a byte. Hits of every file are merged by time, the
instance named; at most ``limit`` are kept, and ``more`` says there were more.

Guest text is untrusted: each hit's line is a :class:`GuestText`. A pattern
ripgrep refuses is a :class:`VMError` naming the pattern and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from vmtui.backends.console.timeindex import IndexReader, index_path
from vmtui.backends.inert import GuestText
from vmtui.backends.vm.errors import VMError

MAX_LIMIT = 10000
MAX_TEXT = 2000  # characters of a hit's line kept (a flood's one giant line)
ROUNDS = 64  # ripgrep runs per file while a source filter skips what it finds
_ROTATED = re.compile(r"console\.log\.(\d+)")


@dataclass(frozen=True)
class SearchHit:
    """One line that matched: where, when, from which source."""

    time: float  # wall clock when it was written (from the index)
    instance: str
    source: str  # console, qemu, stdout, vmtui, ... ("" when the log has no index)
    text: GuestText
    log: Path  # the file it is in
    offset: int  # byte offset of the line in ``log``


@dataclass(frozen=True)
class SearchResult:
    """The hits of one search, oldest first, and what was searched."""

    hits: list[SearchHit]
    more: bool  # more lines matched than ``limit``: narrow the window or the pattern
    files: int  # logs searched
    searched: int  # bytes ripgrep was given to read
    seconds: float
    problems: list[str] = field(default_factory=list)  # logs that could not be read, and why


@dataclass(frozen=True)
class SearchQuery:
    """What to look for (see :func:`search`)."""

    pattern: str
    since: float | None = None
    until: float | None = None
    sources: tuple[str, ...] = ()
    limit: int = 500
    ignore_case: bool = False


def logs_of(workdir: Path) -> list[Path]:
    """The console logs of one instance, oldest first (``console.log.N``
    from the highest N, then ``console.log``)."""
    rotated: list[tuple[int, Path]] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(workdir):
            m = _ROTATED.fullmatch(entry.name)
            if m:
                rotated.append((int(m.group(1)), Path(entry.path)))
    logs = [p for _, p in sorted(rotated, reverse=True)]
    current = workdir / "console.log"
    return logs + [current] if current.exists() else logs


def instance_logs(workdir: Path) -> list[Path]:
    """The console logs of one instance in every run of its pool, oldest first.

    A fleet keeps each run in a folder of its own (``POOL/run-DATE-TIME-XXXX/NAME``):
    the same instance's folder in the earlier ``run-*`` folders beside this one
    (by name, which is by date) comes first, then this run's.
    """
    run = workdir.parent
    earlier: list[Path] = []
    with contextlib.suppress(OSError):
        earlier = sorted(Path(e.path) / workdir.name for e in os.scandir(run.parent)
                         if e.name.startswith("run-") and e.name != run.name and e.is_dir())
    return [log for folder in [*earlier, workdir] for log in logs_of(folder)]


def check(query: SearchQuery) -> str:
    """The ripgrep to run ``query`` with.

    Raises:
        VMError: a field of ``query`` is out of range, or ripgrep is missing.
    """
    if not query.pattern:
        raise VMError("search: the pattern is empty")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise VMError(f"search: limit {query.limit} is not between 1 and {MAX_LIMIT}")
    if query.since is not None and query.until is not None and query.until < query.since:
        raise VMError(f"search: the window ends ({query.until}) before it begins "
                      f"({query.since})")
    rg = shutil.which("rg")
    if rg is None:
        raise VMError("search: ripgrep (rg) is not installed (bootstrap.sh installs it: "
                      "apt-get install ripgrep)")
    return rg


async def search(logs: Sequence[tuple[str, Path]], query: SearchQuery) -> SearchResult:
    """Search ``logs`` (instance name, log file) for ``query``.

    Raises:
        VMError: a bad query (see :func:`check`), or a pattern ripgrep refuses.
    """
    began = time.monotonic()
    rg = check(query)
    await _compile(rg, query)
    gate = asyncio.Semaphore(os.cpu_count() or 2)
    found = await asyncio.gather(*(_one(rg, gate, name, log, query) for name, log in logs))
    hits = sorted((h for f in found for h in f.hits), key=lambda h: (h.time, h.instance,
                                                                     h.log.name, h.offset))
    more = len(hits) > query.limit or any(f.more for f in found)
    return SearchResult(hits[:query.limit], more, len(logs), sum(f.searched for f in found),
                        time.monotonic() - began, [f.problem for f in found if f.problem])


def _args(rg: str, query: SearchQuery, count: int) -> list[str]:
    args = [rg, "--no-config", "--text", "--byte-offset", "--no-line-number",
            "--no-filename", "--color", "never", "--max-count", str(count)]
    if query.ignore_case:
        args.append("--ignore-case")
    return [*args, "--regexp", query.pattern]


async def _compile(rg: str, query: SearchQuery) -> None:
    """Let ripgrep judge the pattern once, on no input, before any file."""
    proc = await asyncio.create_subprocess_exec(
        *_args(rg, query, 1), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode == 2:
        why = err.decode("utf-8", "replace").strip().splitlines()
        detail = " ".join(line.strip() for line in why if line.strip())[:400]
        raise VMError(f"search: bad pattern {query.pattern!r}: {detail}")


@dataclass
class _Found:
    hits: list[SearchHit] = field(default_factory=list)
    more: bool = False
    searched: int = 0
    problem: str = ""


async def _one(rg: str, gate: asyncio.Semaphore, name: str, log: Path,
               query: SearchQuery) -> _Found:
    found = _Found()
    index = IndexReader(index_path(log))
    try:
        async with gate:
            with open(log, "rb") as f:
                await _scan(rg, f, name, log, index, query, found)
    except OSError as exc:
        found.problem = f"{name}: {log}: {exc.strerror or exc}"
    finally:
        index.close()
    return found


async def _scan(rg: str, f: BinaryIO, name: str, log: Path, index: IndexReader,
                query: SearchQuery, found: _Found) -> None:
    size = os.fstat(f.fileno()).st_size
    mtime = os.fstat(f.fileno()).st_mtime
    start, end = _window(index, query, size, mtime)
    want = query.limit + 1  # one past the limit says "more"
    sources = set(query.sources)
    for _ in range(ROUNDS):
        if start >= end:
            return
        f.seek(start)
        found.searched += end - start
        count = max(want - len(found.hits), 256 if sources else 1)
        batch, start, done = await _run(rg, f, start, end, query, count)
        for offset, raw in batch:
            when, source = _stamp(index, offset, mtime)
            if sources and source not in sources:
                continue
            text = raw.decode("utf-8", "replace")[:MAX_TEXT]
            found.hits.append(SearchHit(when, name, source, GuestText(text), log, offset))
        if len(found.hits) >= want:
            found.more = True
            del found.hits[query.limit:]
            return
        if done:
            return
    found.more = True  # the source filter skipped too much to go on: say there may be more


def _stamp(index: IndexReader, offset: int, mtime: float) -> tuple[float, str]:
    """The time and source of the line at ``offset``: its index entry's; the
    first entry's time before it; the file's time when there is no index."""
    if not len(index):
        return mtime, ""
    entry = index.at(offset)
    return (entry.time, entry.source) if entry else (index[0].time, "")


def _window(index: IndexReader, query: SearchQuery, size: int, mtime: float) -> tuple[int, int]:
    """The byte range of a log written inside the query's time window."""
    if not len(index):  # no index (a log from before vmtui kept one): its file's time
        inside = ((query.since is None or mtime >= query.since)
                  and (query.until is None or mtime <= query.until))
        return (0, size) if inside else (0, 0)
    start, end = 0, size
    if query.since is not None:
        start = index.offset_at(query.since)
        if start < 0:  # every entry is older than the window
            return 0, 0
    if query.until is not None:
        after = index.offset_at(query.until + 1e-6)
        end = size if after < 0 else after
    return start, end


async def _run(rg: str, f: BinaryIO, start: int, end: int, query: SearchQuery,
               count: int) -> tuple[list[tuple[int, bytes]], int, bool]:
    """ripgrep over ``f`` from ``start`` (its position): up to ``count`` hits
    before ``end``, where the next run starts, and whether the range is done."""
    proc = await asyncio.create_subprocess_exec(
        *_args(rg, query, count), stdin=f.fileno(), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, limit=1 << 20)  # a line may be 64 KiB and more
    assert proc.stdout is not None
    hits: list[tuple[int, bytes]] = []
    nxt, done, finished = end, True, False
    try:
        async for line in proc.stdout:
            colon = line.index(b":")
            offset = start + int(line[:colon])
            if offset >= end:
                break
            hits.append((offset, line[colon + 1:].rstrip(b"\n")))
            nxt = offset + len(line) - colon - 1
        else:
            done, finished = len(hits) < count, True
    finally:
        if not finished and proc.returncode is None:
            # Past the window (or cancelled): stop it. os.kill, not proc.kill(),
            # which polls (reaps) the child under asyncio's child watcher.
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    return hits, nxt, done
