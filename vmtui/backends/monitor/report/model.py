"""What the report reader hands out: ``Report``, and the flags that the whole
log decides (a suppression line anywhere in it, a console that hung up)."""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass

from vmtui.backends.inert import GuestText
from vmtui.backends.monitor.report import bsd, common_rules, linux_rules
from vmtui.backends.monitor.report.kinds import kind_of


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
    prefix: int = 0  # lines of its context before its first, at the head of ``text``
    guilty: str = ""  # the source file to blame, once symbolised (symbolized.py)

    def as_dict(self) -> dict[str, object]:
        return {"title": self.title, "alt": list(self.alts), "kind": self.kind,
                "corrupted": self.corrupted, "reason": self.reason,
                "suppressed": self.suppressed, "line": self.line, "end": self.end,
                **({"guilty_file": self.guilty} if self.guilty else {}), "text": self.text}


def draft(title: str, alts: list[str], reason: str, lines: list[str], start: int,
          end: int, prefix: int = 0) -> Report:
    """A report before the whole log has been seen (no log-wide flags yet)."""
    return Report(GuestText(title), kind_of(title), bool(reason),
                  "".join(f"{ln}\n" for ln in lines), start, end,
                  tuple(GuestText(a) for a in alts), reason, prefix=prefix)


def flagged(report: Report, suppressed: bool, hangup: bool) -> Report:
    """The report with what the whole log says about it."""
    if hangup and not report.corrupted:
        report = dataclasses.replace(report, corrupted=True, reason="the console hung up")
    return dataclasses.replace(report, suppressed=suppressed) if suppressed else report


# A cloud console that drops: whatever report it cut is not to be trusted.
HANGUP = "serialport: VM disconnected."


@functools.cache
def suppressions(os: str) -> tuple[re.Pattern[str], ...]:
    patterns = common_rules.SUPPRESSED + (
        linux_rules.SUPPRESSED if os == "linux" else bsd.SUPPRESSED.get(os, ()))
    return tuple(re.compile(p) for p in patterns)


def literal_prefix(pattern: str) -> str:
    """The text every match of ``pattern`` starts with ("" when it starts with a
    wildcard): a cheap ``in`` test before the regular expression."""
    if "|" in pattern:  # an alternative may start with anything
        return ""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            out.append(pattern[i + 1])
            i += 2
            continue
        if ch in ".^$*+?{}[]|()\\":
            break
        out.append(ch)
        i += 1
    if i < len(pattern) and pattern[i] in "*?{" and out:  # "ab*": the b may be absent
        out.pop()
    return "".join(out)


@functools.cache
def cover(literals: tuple[str, ...], size: int = 4) -> tuple[str, ...]:
    """A few short strings such that each literal holds one of them: one ``find``
    each over a block instead of one per literal (a literal shorter than
    ``size`` stands for itself)."""
    left = set(literals)
    chosen: list[str] = []
    while left:
        short = sorted(lit for lit in left if len(lit) <= size)
        if short:
            pick = short[0]
        else:
            counts: dict[str, int] = {}
            for lit in sorted(left):
                for piece in {lit[i:i + size] for i in range(len(lit) - size + 1)}:
                    counts[piece] = counts.get(piece, 0) + 1
            pick = max(sorted(counts), key=lambda p: counts[p])
        chosen.append(pick)
        left = {lit for lit in left if pick not in lit}
    return tuple(chosen)


class Flags:
    """The log-wide flags, judged block by block of whole lines."""

    def __init__(self, os: str) -> None:
        self._always, self._by_piece = _prefilter(os)
        self.suppressed = False
        self.hangup = False

    def check(self, block: str) -> None:
        if not self.hangup and HANGUP in block:
            self.hangup = True
        if self.suppressed:
            return
        if any(p.search(block) for p in self._always) or any(
                lit in block and p.search(block)
                for piece, pairs in self._by_piece if piece in block for p, lit in pairs):
            self.suppressed = True


_Pairs = tuple[tuple[re.Pattern[str], str], ...]


@functools.cache
def _prefilter(os: str) -> tuple[tuple[re.Pattern[str], ...], tuple[tuple[str, _Pairs], ...]]:
    """The suppressions with no literal start; the others by a short piece of it."""
    pairs = tuple((p, literal_prefix(p.pattern)) for p in suppressions(os))
    pieces = cover(tuple(lit for _, lit in pairs if lit))
    return (tuple(p for p, lit in pairs if not lit),
            tuple((piece, tuple((p, lit) for p, lit in pairs if lit and piece in lit))
                  for piece in pieces))
