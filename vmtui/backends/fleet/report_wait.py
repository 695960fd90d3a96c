"""How long to wait for the rest of a crash report, and the console window it is read from.

The detector (``monitor/``) finds a report's first line in the console; the rest
of the report is read off the record (its ring since the crash, the VM's events),
so waiting for it and cutting its window are the fleet's, not the monitor's.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from vmtui.backends.fleet.records import InstanceRecord
from vmtui.backends.monitor.detector import (
    CONSOLE_SOURCES,
    PANIC_END,
    PANIC_GRACE,
    REPORT_BYTES,
    REPORT_LINES,
)


async def rest_of_report(rec: InstanceRecord, since: float, after_seconds: float) -> None:
    """Wait ``after_seconds`` for the rest of a crash report, or less when nothing
    more can come or nothing more would be read: a kernel panic's closing line
    was printed, or the VM reported the panic (pvpanic, about ``since``) and was
    stopped for it, before the closing line, which then never comes; or the
    timeline since the crash holds :data:`REPORT_LINES` lines already (a burst:
    the report is read from those, and must be read before the ring moves on).

    Each line is looked at once: a flood costs no more than its lines."""
    deadline = time.monotonic() + after_seconds
    cursor = rec.crash_seq
    while (remaining := deadline - time.monotonic()) > 0:
        lines, _ = rec.ring.since(max(cursor, rec.crash_seq))
        cursor = rec.ring.next_seq
        if (any(PANIC_END in text for _, source, text, _ in lines if source in CONSOLE_SOURCES)
                or _panic_stopped(rec, since)):
            await asyncio.sleep(min(PANIC_GRACE, remaining))  # bytes still in the pipe
            return
        if rec.ring.next_seq - rec.crash_seq >= REPORT_LINES:
            return
        await asyncio.sleep(min(0.05, remaining))


def _panic_stopped(rec: InstanceRecord, since: float) -> bool:
    return any(e.name == "GUEST_PANICKED" and e.data.get("action") != "run"
               and e.time >= since - 5 for e in rec.events)


@dataclass(frozen=True)
class ReportWindow:
    """The console text a crash's report is read from, and what was left out."""

    text: str
    lines: int  # console lines in ``text``
    left: int  # console lines after them, not read (beyond the caps)
    lost: int  # lines from the crash's start on that the ring no longer held


def report_window(rec: InstanceRecord) -> ReportWindow:
    """The console lines since ``rec``'s crash began, at most :data:`REPORT_LINES`
    lines and :data:`REPORT_BYTES` bytes: what the report parser is given."""
    lines, lost = rec.ring.since(rec.crash_seq)
    texts = [text for _, source, text, _ in lines if source in CONSOLE_SOURCES]
    size, taken = 0, 0
    for text in texts[:REPORT_LINES]:
        size += len(text) + 1
        if size > REPORT_BYTES:
            break
        taken += 1
    return ReportWindow("".join(f"{text}\n" for text in texts[:taken]), taken,
                        len(texts) - taken, lost)
