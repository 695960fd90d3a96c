"""Reading a Linux report out of a console log.

A report starts at the first line that matches an oops. Its text is the lines
from the same context: with CONFIG_PRINTK_CALLER the "[ T123]" task or
"[ C1]" CPU tag tells interleaved reports apart; without it, lines with a
timestamp go together. The title is read from the text up to the next report.
This module judges lines and texts; ``linux_scan`` walks a log with it.
"""

from __future__ import annotations

import re

from vmtui.backends.monitor.report.engine import Description, Oops, describe
from vmtui.backends.monitor.report.linux_frames import LINUX_FRAMES
from vmtui.backends.monitor.report.linux_rules import LINUX_OOPSES

CONSOLE = "console"  # a timestamp without a caller tag
_PREFIX = re.compile(r"^(?:\*\* \d+ printk messages dropped \*\* )?(?:.* login: )?(?:<\d+>)?"
                     r"\[ *\d+\.\d+\](\[ *[CT]\d+\])? ")
TASK = re.compile(r"\[ *T\d+\]")
CPU = re.compile(r"\[ *C\d+\]")
_DOUBTFUL = re.compile(r"(\[<[0-9a-f]+>\])? \? ")  # a frame the unwinder is unsure of
_STAMP_IN_TITLE = re.compile(r"\[ *\d+\.\d+\]")
REPLAY = "** replaying previous printk message **"


def context(line: str) -> str:
    m = _PREFIX.match(line)
    if m is None:
        return ""
    return m[1] or CONSOLE


def strip(line: str, ctx: str) -> tuple[str, bool]:
    """The line without its prefix; and whether it is a doubtful frame."""
    if not ctx:
        return line, False
    line = line[line.find("] ") + 2:]
    if "<EOI>" not in line:
        if _DOUBTFUL.search(line):
            return line[line.find(" ? ") + 2:], True
        if line.endswith(" (unreliable)"):  # powerpc's mark
            return line[:-len(" (unreliable)")], True
    return line, False


def starting(line: str) -> Oops | None:
    for oops in LINUX_OOPSES:
        if oops.header in line and oops.starts(line):
            return oops
    return None


def title_of(body: list[str], rule: Oops) -> tuple[str, str, list[str], Description] | None:
    d = describe("".join(f"{line}\n" for line in body), rule, LINUX_FRAMES)
    return (d.title, d.broken, d.alts, d) if d.title else None


def broken_reason(title: str, body: list[str], d: Description) -> str:
    """Why the report is unreadable, or "": a stamp inside the title, or a
    stack trace header with no frame under it."""
    if _STAMP_IN_TITLE.search(title):
        return "title matches corrupted regexp"
    if d.format is None or d.format.no_trace:
        return ""
    text = "".join(f"{line}\n" for line in body)
    frames = LINUX_FRAMES
    has_trace = False
    for start in frames.starts:
        m = start.search(text)
        if m is None:
            continue
        below = text[m.start():].split("\n")
        if len(below) < 4:
            return "call trace is missed"
        ok = False
        for line in below[1:16]:
            if any(s.search(line) for s in frames.starts):
                break
            if "(stack is not available)" in line or any(r.search(line) for r in frames.lines):
                has_trace = ok = True
                break
        if not ok and "badaddr" not in start.pattern:
            return "no frames in a stack trace"
    return "" if has_trace else "no stack trace in report"
