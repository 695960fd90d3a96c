"""Crash detection on the console stream, and the verdict titles (syzkaller's monitor).

Works on whole console lines (the merger has already joined lines split
across reads), so a report is found whatever the read boundaries were. Each
rule turns the line that starts a report into a short title.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vmtui.backends.inert import GuestText

NO_OUTPUT = GuestText("no output from test machine")
LOST_CONNECTION = GuestText("lost connection to test machine")

Title = Callable[[re.Match[str]], str]


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    title: Title
    needles: tuple[str, ...]  # literals, one of which is in every match


_META = set(".^$*+?{}[]|()")


def _leading_literal(pattern: str) -> str:
    """The literal text a pattern starts with (escaped punctuation unescaped)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            out.append(pattern[i + 1])
            i += 2
            continue
        if c in _META or c == "\\":
            break
        out.append(c)
        i += 1
    # A quantifier after the last character makes it optional.
    if i < len(pattern) and pattern[i] in "*?{" and out:
        out.pop()
    return "".join(out)


def _rule(pattern: str, title: str | Title, needles: tuple[str, ...] = ()) -> Rule:
    fmt = title if callable(title) else (lambda m, t=title: t.format(*m.groups()))
    needles = needles or (_leading_literal(pattern),)
    if not all(needles):
        raise ValueError(f"crash rule {pattern!r} needs a literal to search for")
    return Rule(re.compile(pattern), fmt, needles)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(".")


# Order matters: the first rule that matches a line names the crash.
LINUX = (
    _rule(r"watchdog: BUG: soft lockup - CPU#\d+ stuck for \d+s! \[([^:\]]+)",
          "BUG: soft lockup in {0}"),
    _rule(r"INFO: task (\S+?):\d+ blocked for more than \d+ seconds",
          "INFO: task hung in {0}"),
    _rule(r"INFO: rcu_\w+ (?:self-)?detected (?:stalls|stall)", "INFO: rcu detected stall"),
    _rule(r"rcu: INFO: rcu_\w+ (?:self-)?detected (?:stalls|stall)",
          "INFO: rcu detected stall"),
    _rule(r"(KASAN|KMSAN|KCSAN|KFENCE): (.+)", lambda m: f"{m[1]}: {_clean(m[2])}",
          ("SAN: ", "KFENCE: ")),
    _rule(r"UBSAN: (.+)", lambda m: f"UBSAN: {_clean(m[1])}"),
    _rule(r"kernel BUG at ([^!\s]+)!", "kernel BUG at {0}"),
    _rule(r"BUG: (.+)", lambda m: f"BUG: {_clean(m[1])}"),
    _rule(r"WARNING: CPU: \d+ PID: \d+ at \S+ ([\w.]+)\+0x",
          "WARNING in {0}"),
    # Only the kernel's own WARNING headlines: informational "WARNING:" notices
    # (a deprecated mount option, Spectre notes) are no crash.
    _rule(r"WARNING: ((?:possible (?:circular|recursive) locking|inconsistent lock state|"
          r"suspicious RCU usage|bad unlock balance|held lock freed|lock held when returning"
          r"|still has locks held|nested lock was not taken|refcount bug|ODEBUG|kernel stack"
          r").*)", lambda m: f"WARNING: {_clean(m[1])}", ("WARNING: ",)),
    _rule(r"general protection fault(?:, probably for non-canonical address)?",
          "general protection fault"),
    _rule(r"Oops: (.+)", lambda m: f"Oops: {_clean(m[1])}"),
    _rule(r"Kernel panic - not syncing: (.+)",
          lambda m: f"Kernel panic - not syncing: {_clean(m[1])}"),
    _rule(r"Unable to handle kernel (.+)", lambda m: f"Unable to handle kernel {_clean(m[1])}"),
)

FREEBSD = (
    _rule(r"Fatal trap (\d+): (.+?) while in (kernel|user) mode",
          lambda m: f"Fatal trap {m[1]}: {_clean(m[2])} in {m[3]} mode"),
    _rule(r"panic: (.+)", lambda m: f"panic: {_clean(m[1])}"),
)

OPENBSD = (
    _rule(r"uvm_fault\(([^)]*)\)", lambda m: f"uvm_fault({_clean(m[1])})"),
    _rule(r"panic: (.+)", lambda m: f"panic: {_clean(m[1])}"),
    _rule(r"kernel: (\S.*) trap", lambda m: f"{_clean(m[1])} trap"),
)

RULES = {"linux": LINUX, "freebsd": FREEBSD, "openbsd": OPENBSD, "netbsd": OPENBSD}

# The kernel's log prefix, "[  123.456789] " or with a caller id "[ T42] ".
_PREFIX = re.compile(r"^(?:<\d+>)?\[\s*\d+\.\d+\](?:\[\s*[TC]\d+\])?\s*")


class CrashDetector:
    """Finds the first line of a kernel crash report in console lines."""

    def __init__(self, os: str) -> None:
        self.rules = RULES.get(os, LINUX)
        needles = {n for rule in self.rules for n in rule.needles}
        # A literal inside another finds everything the longer one finds.
        self._needles = sorted(n for n in needles if not any(o != n and o in n for o in needles))

    def check(self, line: str) -> GuestText | None:
        """The crash title if ``line`` starts a report, else None.

        The title is made of guest text: it is made inert here, where it is born.
        """
        text = _PREFIX.sub("", line, count=1)
        for rule in self.rules:
            m = rule.pattern.search(text)
            if m is not None:
                return GuestText(rule.title(m)[:200])
        return None

    def check_lines(self, lines: Sequence[str]) -> list[tuple[int, GuestText]]:
        """``(index, title)`` for each line of ``lines`` that starts a report.

        A batch without a report costs a substring search per literal in the
        joined text. Every match holds one of its rule's literals, so the first
        literal found is at or before the first line that matches.
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
