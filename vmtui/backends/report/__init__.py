"""Kernel reports in a console log, titled as syzkaller titles them.

``find_reports`` reads a finished log (a saved console.log, a syzkaller logN,
a serial capture) and returns every report in it: its title (and the
alternative titles syzkaller would also file it under), its kind, whether its
text is too broken to trust, and the text itself. ``starts_report`` is the
same judgement for one line, for the live watch. The rules are per OS:
``linux_rules`` and ``bsd``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vmtui.backends.inert import GuestText
from vmtui.backends.report import bsd, common_rules, linux, linux_rules
from vmtui.backends.report.engine import NO_FRAMES, Oops, describe, tidy_title
from vmtui.backends.report.kinds import kind_of

OSES = ("linux", "freebsd", "openbsd", "netbsd")
REPORT_LINES = 200  # a BSD report's text runs to the next report, or this many lines
_BSD = {"freebsd": bsd.FREEBSD, "openbsd": bsd.OPENBSD, "netbsd": bsd.NETBSD}


@dataclass(frozen=True)
class Report:
    """One kernel report: its title, its kind, whether its text is readable, the text."""

    title: GuestText
    kind: str
    corrupted: bool
    text: str
    line: int  # where it starts in the log (0-based)
    end: int = 0  # its last line in the log
    alts: tuple[GuestText, ...] = ()
    reason: str = ""  # why it is corrupted
    suppressed: bool = False  # the log says it is not worth filing (out of memory, say)

    def as_dict(self) -> dict[str, object]:
        return {"title": self.title, "alt": list(self.alts), "kind": self.kind,
                "corrupted": self.corrupted, "reason": self.reason,
                "suppressed": self.suppressed, "line": self.line, "end": self.end,
                "text": self.text}


def _rules(os: str) -> tuple[Oops, ...]:
    if os == "linux":
        return linux_rules.LINUX_OOPSES
    if os not in _BSD:
        raise ValueError(f"unknown OS {os!r}: one of {', '.join(OSES)}")
    return _BSD[os]


def _starting(line: str, os: str) -> Oops | None:
    """The rule whose report ``line`` starts, if it starts one."""
    if os == "linux":
        return linux.starting(line)
    if any(re.search(p, line) for p in bsd.IGNORED.get(os, ())):
        return None
    return next((o for o in _rules(os) if o.starts(line)), None)


def starts_report(line: str, os: str = "linux") -> bool:
    """Whether ``line`` starts a kernel report (as syzkaller's ContainsCrash)."""
    return _starting(line, os) is not None


def headers(os: str = "linux") -> tuple[str, ...]:
    """The literals one of which is in every line that starts a report."""
    return tuple(o.header for o in _rules(os))


def first_line_title(line: str, os: str = "linux") -> GuestText | None:
    """A title from the first line of a report alone (None: the line starts none).

    Where the title needs the stack (most Linux ones do), the line itself
    stands in, tidied, until the whole report can be read.
    """
    rule = _starting(line, os)
    if rule is None:
        return None
    if os == "linux":
        found = linux.parse([line], 0, rule)
        title, broken = found.title, found.reason
    else:
        d = describe(f"{line}\n", rule, NO_FRAMES)
        title, broken = tidy_title(d.title), d.broken
    if broken == "extracted no frames" or not title:
        title = tidy_title(line[line.find(rule.header):])
    return GuestText(title)


def _suppressed(log: str, os: str) -> bool:
    patterns = common_rules.SUPPRESSED + (
        linux_rules.SUPPRESSED if os == "linux" else bsd.SUPPRESSED.get(os, ()))
    return any(re.search(p, log) for p in patterns)


# A cloud console that drops: whatever report it cut is not to be trusted.
HANGUP = "serialport: VM disconnected."


def _make(title: str, alts: list[str], corrupted: bool, reason: str, lines: list[str],
          start: int, end: int, suppressed: bool, hangup: bool) -> Report:
    if hangup and not corrupted:
        corrupted, reason = True, "the console hung up"
    return Report(GuestText(title), kind_of(title), corrupted, "".join(f"{ln}\n" for ln in lines),
                  start, end, tuple(GuestText(a) for a in alts), reason, suppressed)


def find_reports(log: str, os: str = "linux") -> list[Report]:
    """Every report in ``log`` (the text of a console log), in order."""
    _rules(os)  # an unknown OS is refused here, before any work
    lines = log.replace("\r", "").split("\n")
    suppressed = _suppressed(log, os)
    hangup = HANGUP in log
    reports: list[Report] = []
    at = 0
    if os == "linux":
        while (hit := linux.first_report(lines, at)) is not None:
            f = linux.parse(lines, *hit)
            reports.append(_make(f.title, f.alts, f.corrupted, f.reason, f.text, f.start, f.last,
                                 suppressed, hangup))
            at = max(f.next, f.start + 1)
        return reports
    starts = [(i, rule) for i, line in enumerate(lines) if (rule := _starting(line, os))]
    for n, (start, rule) in enumerate(starts):
        if start < at:
            continue
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        d = describe("".join(f"{ln}\n" for ln in lines[start:start + 2000]), rule, NO_FRAMES)
        text = lines[start:min(end, start + REPORT_LINES)]
        reports.append(_make(tidy_title(d.title), [tidy_title(a) for a in d.alts], bool(d.broken),
                             d.broken, text, start, start + len(text) - 1, suppressed, hangup))
        at = end
    return reports
