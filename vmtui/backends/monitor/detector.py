"""Crash detection on the console stream, and the verdict titles (syzkaller's monitor).

Works on whole console lines (the merger has already joined lines split
across reads), so a report is found whatever the read boundaries were. A line
starts a report when the report rules (vmtui.backends.monitor.report) say so, the
same rules that read a finished log: live and offline agree on what is a
crash. The title given here is the first line's; the watch replaces it with
the full report's title once the report has been printed.
"""

from __future__ import annotations

from collections.abc import Sequence

from vmtui.backends.inert import GuestText
from vmtui.backends.monitor.report import first_line_title, headers

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
