"""Unique crashes of a pool, on disk in syzkaller's ``crashes/`` layout.

One folder per title, named by the SHA-1 of the title in hex (as syzkaller's
manager names it), holding ``description`` (the title and a newline) and up
to :data:`MAX_LOGS` numbered ``logN``/``reportN`` pairs: a free number first,
then the oldest pair (by modification time) is replaced. Tools and habits made
for a syzkaller workdir work on it. The store lives in the pool's workdir, so
crashes of earlier runs are counted when a new run starts.

Beside them ``stats.json`` keeps what the logs cannot tell once the oldest are
replaced: how often the title was seen and when first and last (as syzkaller's
manager keeps its crash stats). It is written whole or not at all (a temporary
file renamed over it); a folder without one (from an older vmtui) is counted
by its logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from vmtui.backends.inert import GuestText

MAX_LOGS = 100
STATS = "stats.json"


def crash_id(title: str) -> str:
    """The folder name of ``title``: its SHA-1, hex."""
    return hashlib.sha1(title.encode()).hexdigest()


@dataclass
class Crash:
    """A unique crash title and what the pool has seen of it."""

    title: GuestText
    folder: Path
    count: int = 0  # times seen (with the logs of earlier runs, as their number)
    first: float = 0.0  # epoch seconds
    last: float = 0.0
    instances: list[str] = field(default_factory=list)  # in the order they crashed

    def newest_report(self) -> str:
        """The text of the most recently written report (guest text: show it inert).

        Raises:
            OSError: there is none, or it cannot be read.
        """
        reports = sorted(self.folder.glob("report[0-9]*"), key=lambda p: p.stat().st_mtime)
        if not reports:
            raise FileNotFoundError(f"{self.folder}: no report")
        return reports[-1].read_text(errors="replace")

    def newest_log(self) -> tuple[str, str]:
        """The name and text of the console log saved with the newest report
        (``logN`` beside ``reportN``, else the newest log; guest text: show it inert).

        Raises:
            OSError: there is none, or it cannot be read.
        """
        reports = sorted(self.folder.glob("report[0-9]*"), key=lambda p: p.stat().st_mtime)
        logs = [self.folder / f"log{r.name.removeprefix('report')}" for r in reports[-1:]]
        if not logs or not logs[0].exists():
            logs = sorted(self.folder.glob("log[0-9]*"), key=lambda p: p.stat().st_mtime)[-1:]
        if not logs:
            raise FileNotFoundError(f"{self.folder}: no log")
        return logs[0].name, logs[0].read_text(errors="replace")


@dataclass(frozen=True)
class CrashSeen:
    """One crash as it happened: which instance, which title, where its logs went."""

    instance: str
    title: GuestText
    crash: Crash
    log: Path
    report: Path
    time: float


def _read_stats(folder: Path) -> tuple[int, float, float] | None:
    """The count and first/last seen kept in ``folder``; None if absent or unreadable."""
    try:
        data = json.loads((folder / STATS).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    count, first, last = data.get("count"), data.get("first"), data.get("last")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return None
    times = []
    for t in (first, last):
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            return None
        times.append(float(t))
    return count, times[0], times[1]


def _write_stats(crash: Crash) -> None:
    """Keep ``crash``'s count and first/last seen in its folder: a whole file or the old one.

    Raises:
        OSError: it could not be written.
    """
    path = crash.folder / STATS
    tmp = path.with_name(STATS + ".tmp")
    tmp.write_text(json.dumps({"count": crash.count, "first": crash.first,
                               "last": crash.last}) + "\n")
    os.replace(tmp, path)


class CrashStore:
    """The ``crashes/`` folder of a pool."""

    def __init__(self, root: Path, max_logs: int = MAX_LOGS) -> None:
        self.root = root
        self.max_logs = max_logs
        self.crashes: dict[str, Crash] = {}
        self._listeners: set[asyncio.Queue[CrashSeen]] = set()
        self._load()

    def _load(self) -> None:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            try:
                title = (folder / "description").read_text(errors="replace").rstrip("\n")
                logs = [p.stat().st_mtime for p in folder.glob("log[0-9]*")]
            except OSError:
                continue  # not one of ours, or half-written: leave it be
            stats = _read_stats(folder)
            if stats is not None:  # the logs still there may be newer than its last write
                count, first, last = stats
                self.crashes[title] = Crash(GuestText(title), folder, max(count, len(logs)),
                                            min([first, *logs]), max([last, *logs]))
            elif logs:
                self.crashes[title] = Crash(GuestText(title), folder, len(logs), min(logs),
                                            max(logs))

    def _slot(self, folder: Path) -> int:
        oldest, oldest_time = 0, None
        for i in range(self.max_logs):
            try:
                mtime = (folder / f"log{i}").stat().st_mtime_ns
            except FileNotFoundError:
                return i
            if oldest_time is None or mtime < oldest_time:
                oldest, oldest_time = i, mtime
        return oldest

    def add(self, instance: str, title: str, log: bytes, report: str,
            when: float | None = None) -> CrashSeen:
        """Save one crash of ``instance``; the oldest log pair makes room.

        Raises:
            OSError: the folder or a file could not be written.
        """
        when = time.time() if when is None else when
        crash = self.crashes.get(title)
        if crash is None:
            crash = Crash(GuestText(title), self.root / crash_id(title), first=when)
        folder = crash.folder
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.mkdir(exist_ok=True, mode=0o700)
        (folder / "description").write_text(title + "\n")
        slot = self._slot(folder)
        log_path, report_path = folder / f"log{slot}", folder / f"report{slot}"
        log_path.write_bytes(log)
        report_path.write_text(report)
        os.utime(log_path, (when, when))
        os.utime(report_path, (when, when))
        crash.count += 1
        crash.first = min(crash.first, when)
        crash.last = max(crash.last, when)
        _write_stats(crash)
        if instance not in crash.instances:
            crash.instances.append(instance)
        self.crashes[title] = crash
        seen = CrashSeen(instance, crash.title, crash, log_path, report_path, when)
        for queue in self._listeners:
            queue.put_nowait(seen)
        return seen

    def all(self) -> list[Crash]:
        """Every unique crash, the most recent first."""
        return sorted(self.crashes.values(), key=lambda c: c.last, reverse=True)

    async def watch(self) -> AsyncIterator[CrashSeen]:
        """Each crash saved from now on, as it happens (for harnesses and tools)."""
        queue: asyncio.Queue[CrashSeen] = asyncio.Queue()
        self._listeners.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._listeners.discard(queue)
