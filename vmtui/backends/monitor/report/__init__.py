"""Kernel reports in a console log, titled as syzkaller titles them.

``find_reports`` reads a finished log held in a string (a saved console.log,
a syzkaller logN, the lines of an incident) and returns every report in it:
its title (and the alternative titles syzkaller would also file it under), its
kind, whether its text is too broken to trust, and the text itself.
``scan_text``/``scan_reports`` (and ``ReportScanner`` under them) do the same
for a log of any size read as it comes, in bounded memory; ``find_reports`` is
a thin wrapper of them. ``starts_report`` is the same judgement for one line,
for the live watch. The rules are per OS: ``linux_rules`` and ``bsd``.
"""

from __future__ import annotations

from vmtui.backends.inert import GuestText
from vmtui.backends.monitor.report import linux
from vmtui.backends.monitor.report.engine import NO_FRAMES, Oops, describe, tidy_title
from vmtui.backends.monitor.report.linux_scan import first_report
from vmtui.backends.monitor.report.model import HANGUP, Report, flagged, suppressions
from vmtui.backends.monitor.report.stream import (
    OSES,
    ReportScanner,
    bsd_starting,
    read_text,
    rules,
    scan_reports,
    scan_text,
)

__all__ = ["HANGUP", "OSES", "Report", "ReportScanner", "find_reports", "first_line_title",
           "headers", "read_text", "scan_reports", "scan_text", "starts_report"]


def _starting(line: str, os: str) -> Oops | None:
    """The rule whose report ``line`` starts, if it starts one."""
    if os == "linux":
        return linux.starting(line)
    return bsd_starting(line, os)


def starts_report(line: str, os: str = "linux") -> bool:
    """Whether ``line`` starts a kernel report (as syzkaller's ContainsCrash)."""
    return _starting(line, os) is not None


def headers(os: str = "linux") -> tuple[str, ...]:
    """The literals one of which is in every line that starts a report."""
    return tuple(o.header for o in rules(os))


def first_line_title(line: str, os: str = "linux") -> GuestText | None:
    """A title from the first line of a report alone (None: the line starts none).

    Where the title needs the stack (most Linux ones do), the line itself
    stands in, tidied, until the whole report can be read.
    """
    rule = _starting(line, os)
    if rule is None:
        return None
    if os == "linux":
        found = first_report(line, rule)
        title, broken = str(found.title), found.reason
    else:
        d = describe(f"{line}\n", rule, NO_FRAMES)
        title, broken = tidy_title(d.title), d.broken
    if broken == "extracted no frames" or not title:
        title = tidy_title(line[line.find(rule.header):])
    return GuestText(title)


def find_reports(log: str, os: str = "linux") -> list[Report]:
    """Every report in ``log`` (the text of a console log), in order."""
    scanner = ReportScanner(os)  # an unknown OS is refused here, before any work
    reports = scanner.feed(log) + scanner.finish()
    # the whole log is here: its flags from all of it at once (a pattern may span lines)
    suppressed = any(p.search(log) for p in suppressions(os))
    hangup = HANGUP in log
    return [flagged(r, suppressed, hangup) for r in reports]
