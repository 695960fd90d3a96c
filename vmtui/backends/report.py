"""Reports found in a whole console log (a saved console.log, a syzkaller logN).

The live watch finds the first line of a report as lines arrive; this reads a
finished log and returns every report in it with its title and its text, for
``vmtui report`` and for tests against syzkaller's report corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmtui.backends.inert import GuestText
from vmtui.backends.monitor import CrashDetector

REPORT_LINES = 200  # a report's text runs to the next report, or this many lines


@dataclass(frozen=True)
class Report:
    """One kernel report: its title, its kind, whether its text is readable, the text."""

    title: GuestText
    kind: str
    corrupted: bool
    text: str
    line: int  # where it starts in the log (0-based)

    def as_dict(self) -> dict[str, object]:
        return {"title": self.title, "kind": self.kind, "corrupted": self.corrupted,
                "line": self.line, "text": self.text}


def find_reports(log: str, os: str = "linux") -> list[Report]:
    """Every report in ``log`` (the text of a console log), in order."""
    lines = log.splitlines()
    found = CrashDetector(os).check_lines(lines)
    reports = []
    for n, (start, title) in enumerate(found):
        end = found[n + 1][0] if n + 1 < len(found) else len(lines)
        text = "\n".join(lines[start:min(end, start + REPORT_LINES)]) + "\n"
        reports.append(Report(title, "crash", False, text, start))
    return reports
