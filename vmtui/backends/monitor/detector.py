"""Crash detection on the console stream, and the verdict titles (syzkaller's monitor).

Works on whole console lines (the merger has already joined lines split
across reads), so a report is found whatever the read boundaries were. A line
starts a report when the report rules (vmtui.backends.monitor.report) say so, the
same rules that read a finished log: live and offline agree on what is a
crash. The title given here is the first line's; the watch replaces it with
the full report's title once the report has been printed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmtui.backends.inert import GuestText
from vmtui.backends.monitor.report import first_line_title, headers

if TYPE_CHECKING:
    from vmtui.backends.fleet.records import InstanceRecord

CONSOLE_SOURCES = frozenset({"console", "command", "serial", "ssh"})  # checked for crashes
PANIC_END = "---[ end Kernel panic"  # the last line a panicking Linux prints
PANIC_GRACE = 0.1  # seconds for output already written to reach the ring
# The most of the timeline after a crash's first line that its report is read
# from: a report is far shorter, and a burst of reports (thousands of WARNINGs)
# must not make the parse of one incident unbounded.
REPORT_LINES = 2000
REPORT_BYTES = 256 * 1024

NO_OUTPUT = GuestText("no output from test machine")
LOST_CONNECTION = GuestText("lost connection to test machine")

class CrashDetector:
    """Finds the first line of a kernel crash report in console lines."""

    def __init__(self, os: str) -> None:
        self.os = os
        needles = set(headers(os))
        # A literal inside another finds everything the longer one finds.
        self._needles = sorted(n for n in needles if not any(o != n and o in n for o in needles))

    def check(self, line: str) -> GuestText | None:
        """The crash title if ``line`` starts a report, else None.

        The title is made of guest text: it is made inert here, where it is born.
        """
        return first_line_title(line, self.os)

    def check_lines(self, lines: Sequence[str]) -> list[tuple[int, GuestText]]:
        """``(index, title)`` for each line of ``lines`` that starts a report.

        A batch without a report costs a substring search per header in the
        joined text. Every report's first line holds its header, so the first
        header found is at or before the first line that starts one.
        """
        joined = "\n".join(lines)
        found_at = [at for needle in self._needles if (at := joined.find(needle)) >= 0]
        if not found_at:
            return []
        first = joined.count("\n", 0, min(found_at))
        found = []
        for index in range(first, len(lines)):
            title = self.check(lines[index])
            if title is not None:
                found.append((index, title))
        return found


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
