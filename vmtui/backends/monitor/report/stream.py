"""Reports from a log of any size, read as it comes: ``ReportScanner`` takes
text in pieces of any size (a pipe's reads, a file's blocks) and hands out
each report once it is complete; ``scan_reports`` does it for an iterable.

Memory stays bounded: a line longer than ``LINE_CAP`` characters is cut
there, a report reads a bounded window of lines (``linux_scan``), and the
reports waiting for the end of the log (which may still say that they are
suppressed, or that the console hung up) are handed out early, judged on the
log so far, once their text passes ``HOLD_CHARS``.
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections import deque
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from vmtui.backends.monitor.report import bsd
from vmtui.backends.monitor.report.anchors import linux_anchors
from vmtui.backends.monitor.report.engine import NO_FRAMES, Oops, describe, tidy_title
from vmtui.backends.monitor.report.linux_scan import LINE_CAP, LinuxScanner
from vmtui.backends.monitor.report.model import Flags, Report, draft, flagged

OSES = ("linux", "freebsd", "openbsd", "netbsd")
HOLD_CHARS = 16 << 20  # report text held back for the log-wide flags
BLOCK = 1 << 20  # bytes read at a time
REPORT_LINES = 200  # a BSD report's text runs to the next report, or this many lines
BSD_WINDOW = 2000  # lines a BSD report's title is searched in
_BSD = {"freebsd": bsd.FREEBSD, "openbsd": bsd.OPENBSD, "netbsd": bsd.NETBSD}


def rules(os: str) -> tuple[Oops, ...]:
    """The oopses of ``os``; an unknown OS is refused, naming the known ones."""
    from vmtui.backends.monitor.report.linux_rules import LINUX_OOPSES

    if os == "linux":
        return LINUX_OOPSES
    if os not in _BSD:
        raise ValueError(f"unknown OS {os!r}: one of {', '.join(OSES)}")
    return _BSD[os]


def bsd_starting(line: str, os: str) -> Oops | None:
    if any(re.search(p, line) for p in bsd.IGNORED.get(os, ())):
        return None
    return next((o for o in rules(os) if o.starts(line)), None)


class BsdScanner:
    """A BSD report runs to the next one; its title is read from a window after it."""

    def __init__(self, os: str) -> None:
        self.os = os
        self.index = 0
        self._lines: deque[str] = deque()  # from the oldest open report's first line
        self._base = 0  # the number of _lines[0]
        self._open: deque[tuple[int, Oops]] = deque()
        self._ends: dict[int, int] = {}  # a report's start -> the next report's

    def push_lines(self, lines: list[str], following: str | None) -> list[Report]:
        out: list[Report] = []
        for line in lines:
            index = self.index
            self.index += 1
            rule = bsd_starting(line, self.os)
            if rule is not None:
                if self._open:
                    self._ends.setdefault(self._open[-1][0], index)
                if not self._open:
                    self._lines.clear()
                    self._base = index
                self._open.append((index, rule))
            if self._open:
                self._lines.append(line)
            while self._open and self.index - self._open[0][0] >= BSD_WINDOW:
                out.append(self._close())
        return out

    def _close(self) -> Report:
        start, rule = self._open.popleft()
        first = start - self._base
        lines = list(itertools.islice(self._lines, first, first + BSD_WINDOW))
        end = self._ends.pop(start, self.index)
        d = describe("".join(f"{ln}\n" for ln in lines), rule, NO_FRAMES)
        text = lines[:min(end - start, REPORT_LINES)]
        if self._open:  # drop the lines before the next open report
            for _ in range(self._open[0][0] - self._base):
                self._lines.popleft()
            self._base = self._open[0][0]
        return draft(tidy_title(d.title), [tidy_title(a) for a in d.alts], d.broken, text,
                     start, start + len(text) - 1)

    def finish(self) -> list[Report]:
        out = []
        while self._open:
            out.append(self._close())
        return out


class ReportScanner:
    """Text in, in pieces of any size; reports out, in order, once complete.

    ``feed`` returns the reports the new text completed; ``finish`` the rest.
    A report's ``suppressed`` flag and its "the console hung up" corruption
    are judged on the whole log: ``release`` applies them, from what has been
    read so far (``flags``).
    """

    def __init__(self, os: str = "linux") -> None:
        rules(os)  # an unknown OS is refused here, before any work
        self.flags = Flags(os)
        self._scanner = LinuxScanner() if os == "linux" else BsdScanner(os)
        self._carry = ""  # the last whole line (its follower is not known yet) and a partial one
        self._dropping = False  # inside a line longer than LINE_CAP: skip to its end

    def feed(self, text: str) -> list[Report]:
        if "\r" in text:
            text = text.replace("\r", "")
        if self._dropping:
            nl = text.find("\n")
            if nl < 0:
                return []
            text, self._dropping = text[nl:], False
        buf = self._carry + text
        last = buf.rfind("\n")
        if len(buf) - last - 1 > LINE_CAP:  # the partial line: cut, and its rest skipped
            buf, self._dropping = buf[:last + 1 + LINE_CAP], True
        before = buf.rfind("\n", 0, last) if last > 0 else -1
        if before < 0:  # no whole line but the last: it waits for its follower
            self._carry = buf
            return []
        self._carry = buf[before + 1:]
        return self._push(buf[:before], buf[before + 1:last])

    def finish(self) -> list[Report]:
        block, self._carry = self._carry, ""
        return self._push(block, None) + self._scanner.finish()

    def _push(self, block: str, following: str | None) -> list[Report]:
        """Read ``block``, whole lines joined by newlines (the last without one)."""
        if isinstance(self._scanner, BsdScanner):  # line by line
            lines = self._capped(block.split("\n"))
            self.flags.check("\n".join(lines))
            return self._scanner.push_lines(lines, following)
        specials, flag_seen = linux_anchors().scan(block)  # Linux: the lines that matter
        if flag_seen:  # a flag literal is there: the exact check, on the lines as cut
            self.flags.check("\n".join(self._capped(block.split("\n"))))
        return self._scanner.push(block, following, specials)

    @staticmethod
    def _capped(lines: list[str]) -> list[str]:
        if lines and max(map(len, lines)) > LINE_CAP:
            return [line[:LINE_CAP] for line in lines]
        return lines

    def release(self, report: Report) -> Report:
        return flagged(report, self.flags.suppressed, self.flags.hangup)


def scan_text(pieces: Iterable[str], os: str = "linux") -> Iterator[Report]:
    """Every report in the log ``pieces`` make when joined, in order.

    Reports wait for the end of the log (for its log-wide flags) until their
    text passes HOLD_CHARS; then they go out as the flags stand."""
    scanner = ReportScanner(os)
    held: deque[Report] = deque()
    size = 0
    for piece in pieces:
        for report in scanner.feed(piece):
            held.append(report)
            size += len(report.text)
        while size > HOLD_CHARS and held:
            size -= len(held[0].text)
            yield scanner.release(held.popleft())
    held.extend(scanner.finish())
    for report in held:
        yield scanner.release(report)


def scan_reports(lines: Iterable[str], os: str = "linux") -> Iterator[Report]:
    """Every report in a log given line by line (each without its newline)."""
    return scan_text((f"{line}\n" for line in lines), os)


def read_text(stream: BinaryIO, size: int = BLOCK) -> Iterator[str]:
    """A binary stream's text in blocks, decoded as UTF-8 with replacement
    characters (a character split across reads is decoded whole); a pipe's
    data as it comes (``read1``), not once a whole block is there."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    read = getattr(stream, "read1", stream.read)
    while block := read(size):
        yield decoder.decode(block)
    yield decoder.decode(b"", final=True)
