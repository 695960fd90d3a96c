"""Linux reports in one pass over the log: each line is judged once, and each
report's end (where the next one may start) is found once.

A report reads the lines after its first, of its own context (``linux``), as
syzkaller does. Two bounds keep the work and the memory per report fixed
whatever the log: a report reads at most ``WINDOW`` lines past its first, and
one without a caller tag (whose text ends at the next report) reads at most
``TAIL`` lines past that next report (they only count for the CORRUPTED
judgement). Lines are cut at ``LINE_CAP`` characters.

The log comes in blocks of whole lines. Only the lines that may hold a report
literal (found by ``anchors`` in one pass over the block) and the lines an
open report reads are looked at one by one; the others are counted, and the
last ``BEFORE`` of them kept for the next report's earlier lines.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from vmtui.backends.monitor.report.engine import Oops, tidy_title
from vmtui.backends.monitor.report.linux import (
    CONSOLE,
    CPU,
    REPLAY,
    TASK,
    broken_reason,
    context,
    starting,
    strip,
    title_of,
)
from vmtui.backends.monitor.report.linux_rules import CONTINUES, WITH_STACK
from vmtui.backends.monitor.report.model import Report, draft

WINDOW = 2000  # lines a report reads past its first, of any context
TAIL = 100  # lines a report without a caller tag reads past the next report
BEFORE = 400  # lines before a report searched for its context's earlier lines
LINE_CAP = 16384  # characters kept of one line (a kernel's lines are at most 1024)
_MARKS = ("Disabling lock debugging due to kernel taint", "Sending NMI from CPU",
          "Kernel panic - not syncing", "WARNING: possible circular locking dependency detected")


def _last_lines(block: str, start: int, stop: int, count: int) -> list[str]:
    """The last ``count`` lines of ``block[start:stop]`` (which holds at least
    that many), each cut at LINE_CAP."""
    out: list[str] = []
    for _ in range(count):
        nl = block.rfind("\n", start, stop)
        out.append(block[nl + 1 if nl >= 0 else start:stop][:LINE_CAP])
        stop = nl
    out.reverse()
    return out


@dataclass(slots=True)
class Line:
    """What the parser asks of a line, worked out once."""

    raw: str
    ctx: str
    text: str
    doubtful: bool
    rule: Oops | None
    cont: bool = False  # starts a report that continues the one before (a panic after an oops)
    with_stack: bool = False  # a no-bug message with a stack: it ends the report before it
    lockdep_off: bool = False
    nmi: bool = False
    echo: bool = False  # a panic or lockdep's echo of a report

    @classmethod
    def of(cls, raw: str, special: bool = True) -> Line:
        """The line judged; ``special``: it may hold a header (else it holds none)."""
        ctx = context(raw)
        text, doubtful = strip(raw, ctx)
        rule = starting(raw) if special else None
        return cls(raw, ctx, text, doubtful, rule,
                   rule is not None and any(c.search(raw) for c in CONTINUES),
                   any(w in raw for w in WITH_STACK),
                   _MARKS[0] in raw, _MARKS[1] in raw, _MARKS[2] in raw or _MARKS[3] in raw)


@dataclass(slots=True)
class _Open:
    """A report being read: the state of the line-by-line walk of its context."""

    start: int
    rule: Oops
    ctx: str
    before: list[str]
    min_lines: int
    own: bool  # a caller tag: every later line of its task or CPU is part of it
    second: int | None = None  # the next report, or a message with a stack
    window: list[str] = field(default_factory=list)  # raw lines from the first
    body: list[str] = field(default_factory=list)
    where: list[int] = field(default_factory=list)
    cut: int = 0
    counted: int = 0
    skipping: bool = False
    all_cpus: bool = False
    closed: bool = False
    report: Report | None = None

    def step(self, index: int, ln: Line) -> None:
        self.window.append(ln.raw)
        first = index == self.start
        c = ln.ctx
        if not first and (ln.doubtful or (c != self.ctx and not (self.all_cpus and CPU.search(c)))):
            return
        self.counted += 1
        skip = self.skipping
        if ln.lockdep_off:
            skip = True
        elif ln.nmi:
            self.all_cpus = True  # every CPU's backtrace belongs to the report
        elif ln.echo and self.counted > self.min_lines:
            self.skipping = skip = True  # panic_on_warn's second stack, or lockdep's echo
        if not first and skip:
            return
        self.body.append(ln.text)
        self.where.append(index)
        if self.second is None or self.own:
            self.cut = len(self.body)

    def done(self, index: int) -> bool:
        return len(self.window) >= WINDOW or (
            not self.own and self.second is not None and index - self.second >= TAIL)

    def close(self) -> Report:
        found = title_of(self.body[:self.cut], self.rule) or title_of(
            self.window[:self.where[-1] - self.start + 1], self.rule)
        assert found is not None  # the first line holds the header
        title, broken, alts, d = found
        if not broken:
            broken = broken_reason(title, self.body, d)
        cut = max(self.cut, 1)
        return draft(tidy_title(title), [tidy_title(a) for a in alts], broken,
                     self.before + self.body[:cut], self.start, self.where[cut - 1],
                     len(self.before))


def opened(start: int, first: Line, rule: Oops, earlier: deque[Line | str]) -> _Open:
    """A report starting at line ``start``; ``earlier`` holds the lines before it."""
    ctx = first.ctx
    keep = 50 if TASK.search(ctx) else 5  # lines before the report, of its context
    before: list[str] = []
    for entry in reversed(earlier):
        if isinstance(entry, Line):
            c, text, doubtful = entry.ctx, entry.text, entry.doubtful
        else:
            c = context(entry)
            text, doubtful = strip(entry, c)
        if c == ctx and text and not doubtful:
            before.append(text)
            if len(before) == keep:
                break
    before.reverse()
    return _Open(start, rule, ctx, before, 16 if "BUG: KMSAN:" in first.raw else 22,
                 ctx not in ("", CONSOLE))


class LinuxScanner:
    """Lines in (in order, each with the one after it), reports out (in order)."""

    def __init__(self) -> None:
        self.index = 0  # the next line's number
        self._earlier: deque[Line | str] = deque(maxlen=BEFORE)
        self._active: list[_Open] = []
        self._queue: deque[_Open] = deque()  # started, in order, not yet handed out
        self._newest: _Open | None = None  # the report whose end is still to be found

    def push(self, block: str, following: str | None, specials: list[int]) -> list[Report]:
        """Read the lines of ``block`` (joined by newlines, the last without
        one); ``following`` is the line after them (None: the log ends);
        ``specials`` the starts, in order, of the lines that may hold a report
        literal (``anchors``): the others are only counted until a report reads them."""
        n = len(block)
        specials.append(n + 1)  # a sentinel past the last line
        s = 0  # the next special line
        at = 0  # where the next line starts
        while at <= n:
            if not self._active and specials[s] > at:  # nothing reads these lines: skip them
                stop = specials[s] - 1 if specials[s] <= n else n  # the end of the last skipped
                count = block.count("\n", at, stop) + 1
                self._earlier.extend(_last_lines(block, at, stop, min(count, BEFORE)))
                self.index += count
                at = stop + 1
                if at > n:
                    break
            end = block.find("\n", at)
            if end < 0:
                end = n
            special = specials[s] == at
            nxt: str | None = None
            if special:  # it may start a report: the line after it is asked about
                s += 1
                nxt = following
                if end < n:
                    after = block.find("\n", end + 1)
                    nxt = block[end + 1:after if after >= 0 else n][:LINE_CAP]
            self._line(block[at:end][:LINE_CAP], nxt, special)
            at = end + 1
        return self._ready()

    def _line(self, raw: str, nxt: str | None, special: bool) -> None:
        index = self.index
        self.index += 1
        ln = Line.of(raw, special)
        replayed = ln.rule is not None and nxt is not None and REPLAY in nxt
        newest = self._newest
        if newest is not None and newest.second is None and index != newest.start:
            if (ln.rule is not None and not replayed and not ln.cont) or ln.with_stack:
                newest.second = index
        if (newest is None or newest.second is not None) and ln.rule is not None \
                and not replayed:
            new = opened(index, ln, ln.rule, self._earlier)
            self._newest = new
            self._active.append(new)
            self._queue.append(new)
        self._earlier.append(ln)
        still: list[_Open] = []
        for rep in self._active:
            rep.step(index, ln)
            if rep.done(index):
                rep.report, rep.closed = rep.close(), True
            else:
                still.append(rep)
        self._active = still

    def _ready(self) -> list[Report]:
        out: list[Report] = []
        while self._queue and self._queue[0].closed:
            rep = self._queue.popleft()
            assert rep.report is not None
            out.append(rep.report)
        return out

    def finish(self) -> list[Report]:
        """The log ended: every report still being read is complete."""
        for rep in self._active:
            rep.report, rep.closed = rep.close(), True
        self._active = []
        return self._ready()


def first_report(line: str, rule: Oops) -> Report:
    """The report a lone first line makes (the live detector's first guess)."""
    rep = opened(0, Line.of(line), rule, deque())
    rep.step(0, Line.of(line))
    return rep.close()
