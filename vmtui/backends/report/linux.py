"""Reading a Linux report out of a console log.

A report starts at the first line that matches an oops. Its text is the lines
from the same context: with CONFIG_PRINTK_CALLER the "[ T123]" task or
"[ C1]" CPU tag tells interleaved reports apart; without it, lines with a
timestamp go together. The title is read from the text up to the next report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from vmtui.backends.report.engine import Description, Oops, describe, tidy_title
from vmtui.backends.report.linux_frames import LINUX_FRAMES
from vmtui.backends.report.linux_rules import CONTINUES, LINUX_OOPSES, WITH_STACK

CONSOLE = "console"  # a timestamp without a caller tag
_PREFIX = re.compile(r"^(?:\*\* \d+ printk messages dropped \*\* )?(?:.* login: )?(?:<\d+>)?"
                     r"\[ *\d+\.\d+\](\[ *[CT]\d+\])? ")
_TASK = re.compile(r"\[ *T\d+\]")
_CPU = re.compile(r"\[ *C\d+\]")
_DOUBTFUL = re.compile(r"(\[<[0-9a-f]+>\])? \? ")  # a frame the unwinder is unsure of
_STAMP_IN_TITLE = re.compile(r"\[ *\d+\.\d+\]")
_REPLAY = "** replaying previous printk message **"


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
    return next((o for o in LINUX_OOPSES if o.starts(line)), None)


def _replayed(lines: Sequence[str], index: int) -> bool:
    """The line is cut short by printk replaying an older message after it."""
    return index + 1 < len(lines) and _REPLAY in lines[index + 1]


def first_report(lines: Sequence[str], start: int = 0) -> tuple[int, Oops] | None:
    for index in range(start, len(lines)):
        rule = starting(lines[index])
        if rule is not None and not _replayed(lines, index):
            return index, rule
    return None


@dataclass
class Found:
    start: int  # the report's first line in the log
    next: int  # where the next report may start
    last: int  # the last line of the report's text
    title: str
    alts: list[str]
    corrupted: bool
    reason: str
    text: list[str]  # the report's lines, prefixes cut


def parse(lines: Sequence[str], start: int, rule: Oops) -> Found:
    ctx = context(lines[start])
    keep = 50 if _TASK.search(ctx) else 5  # lines before the report, of its context
    before: list[str] = []
    for line in lines[max(0, start - 400):start]:
        c = context(line)
        text, doubtful = strip(line, c)
        if c == ctx and text and not doubtful:
            before = [*before[-(keep - 1):], text] if keep > 1 else [text]
    own = ctx not in ("", CONSOLE)
    second: int | None = None
    body: list[str] = []
    where: list[int] = []  # each body line's index in the log
    cut = 0
    counted, skipping, all_cpus = 0, False, False
    min_lines = 16 if "BUG: KMSAN:" in lines[start] else 22
    for index in range(start, len(lines)):
        line = lines[index]
        first = index == start
        if not first and second is None:
            if starting(line) is not None and not _replayed(lines, index) \
                    and not any(c.search(line) for c in CONTINUES):
                second = index
            elif any(w in line for w in WITH_STACK):
                second = index
        c = context(line)
        text, doubtful = strip(line, c)
        if not first and (doubtful or (c != ctx and not (all_cpus and _CPU.search(c)))):
            continue
        counted += 1
        skip = skipping
        if "Disabling lock debugging due to kernel taint" in line:
            skip = True
        elif "Sending NMI from CPU" in line:
            all_cpus = True  # every CPU's backtrace belongs to the report
        elif ("Kernel panic - not syncing" in line or
              "WARNING: possible circular locking dependency detected" in line) \
                and counted > min_lines:
            skipping = skip = True  # panic_on_warn's second stack, or lockdep's echo
        if not first and skip:
            continue
        body.append(text)
        where.append(index)
        if second is None or own:
            cut = len(body)
    found = _title(body[:cut], rule) or _title(list(lines[start:where[-1] + 1]), rule)
    assert found is not None
    title, broken, alts, d = found
    if not broken:
        broken = _broken(title, body, d)
    cut = max(cut, 1)
    return Found(start, second if second is not None else len(lines), where[cut - 1],
                 tidy_title(title), [tidy_title(a) for a in alts], bool(broken), broken,
                 before + body[:cut])


def _title(body: list[str], rule: Oops) -> tuple[str, str, list[str], Description] | None:
    d = describe("".join(f"{line}\n" for line in body), rule, LINUX_FRAMES)
    return (d.title, d.broken, d.alts, d) if d.title else None


def _broken(title: str, body: list[str], d: Description) -> str:
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
