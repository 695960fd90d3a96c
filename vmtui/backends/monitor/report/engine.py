"""The machinery every OS's report rules share.

A rule table (see ``linux_rules``, ``bsd``) lists *oopses*: a literal that
marks the line where a report starts, the lines that look like one but are not
(``quiet``), and the *formats* that name the report. A format's ``title``
pattern is searched in the report text; the earliest match wins. Its groups,
then the function names picked from the report's stack traces, fill the
format's template ("WARNING in {0}"). The rules follow the titles syzkaller
gives (google/syzkaller, pkg/report), so a title here finds the same bug on
syzbot; the code and the patterns are vmtui's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# Shorthands a rule pattern may use.
_SHORT = {
    "@HEX@": r"0x[0-9a-f]+",
    "@PC@": r"\[<?(?:0x)?[0-9a-f]+>?\]",
    "@FN@": r"([A-Za-z0-9_]+)[.+]",  # a function name, then ".isra.0" or "+0x1f/0x30"
    "@SRC@": r"([A-Za-z0-9_/.-]+\.[a-z]+:\d+)",  # a source file and line
    "@TASK@": r"[\s\S]{0,100}?",  # a task's comm, which may hold anything
}


def rx(pattern: str) -> re.Pattern[str]:
    for short, long in _SHORT.items():
        pattern = pattern.replace(short, long)
    return re.compile(pattern)


class _Trace:
    """Marks the place in a Stack's parts where a stack trace is read."""

    def __repr__(self) -> str:
        return "TRACE"


TRACE = _Trace()
Part = re.Pattern[str] | _Trace
Picker = Callable[[list[str]], tuple[str, int]]  # frames -> (the frame, its index) or ("", -1)


@dataclass(frozen=True)
class Stack:
    """How the guilty function is found: parts matched in order down the report.

    A pattern part moves past the first line it matches, taking its groups as
    frames; TRACE reads a stack trace's frames up to the next trace or part.
    ``fallback`` is tried when ``parts`` find nothing; ``skip`` names frames
    never taken (searched in the name); ``pick`` chooses among the frames
    (default: the first).
    """

    parts: tuple[Part, ...]
    fallback: tuple[Part, ...] = ()
    skip: tuple[str, ...] = ()
    pick: Picker | None = None


@dataclass(frozen=True)
class Format:
    title: re.Pattern[str]
    template: str
    report: re.Pattern[str] | None = None  # must match too, else the report is corrupted
    alt: tuple[str, ...] = ()
    stack: Stack | None = None
    no_trace: bool = False  # the report carries no stack trace to check
    corrupted: bool = False  # a title this format gives means a broken report


@dataclass(frozen=True)
class Oops:
    header: str
    formats: tuple[Format, ...]
    quiet: tuple[re.Pattern[str], ...] = ()

    def starts(self, line: str) -> bool:
        return self.header in line and not any(q.search(line) for q in self.quiet)


def fmt(title: str, template: str, *, report: str | None = None, alt: Sequence[str] = (),
        stack: Stack | None = None, no_trace: bool = False, corrupted: bool = False) -> Format:
    return Format(rx(title), template, rx(report) if report else None, tuple(alt), stack,
                  no_trace, corrupted)


def oops(header: str, formats: Sequence[Format], quiet: Sequence[str] = ()) -> Oops:
    return Oops(header, tuple(formats), tuple(rx(q) for q in quiet))


@dataclass(frozen=True)
class Frames:
    """What an OS's stack traces look like."""

    starts: tuple[re.Pattern[str], ...] = ()  # a line that begins a trace
    lines: tuple[re.Pattern[str], ...] = ()  # a frame line; group 1 (and on) name functions
    skip: tuple[str, ...] = ()  # frames never guilty (report machinery, locking, ...)
    broken: tuple[re.Pattern[str], ...] = ()  # a line that spoils the trace
    prefixes: tuple[str, ...] = ()  # syscall wrappers' prefixes, cut from frames
    _skip_cache: dict[tuple[str, ...], re.Pattern[str] | None] = field(
        default_factory=dict, compare=False, repr=False)

    def skipper(self, extra: tuple[str, ...]) -> re.Pattern[str] | None:
        if extra not in self._skip_cache:
            words = self.skip + extra
            self._skip_cache[extra] = re.compile("|".join(words)) if words else None
        return self._skip_cache[extra]

    def strip(self, frame: str) -> str:
        """The shortest of the frame with each known prefix cut."""
        best = frame
        for prefix in self.prefixes:
            cut = frame.removeprefix(prefix)
            if len(cut) < len(best):
                best = cut
        return best


NO_FRAMES = Frames()


@dataclass
class Description:
    title: str = ""
    broken: str = ""  # why the report is judged corrupted, or ""
    alts: list[str] = field(default_factory=list)
    format: Format | None = None


_MANGLED = re.compile(r"_Z(N?)((?:\d+[A-Za-z_][A-Za-z0-9_]*)+)")
_PIECE = re.compile(r"(\d+)")


def demangle(name: str) -> str:
    """A C++ symbol's qualified name ("_ZN2ns4funcEv" -> "ns::func"); else the name."""
    m = _MANGLED.match(name)
    if m is None:
        return name
    rest, parts = m[2], []
    while rest and (d := _PIECE.match(rest)):
        size, rest = int(d[1]), rest[d.end():]
        if size > len(rest):
            return name
        parts.append(rest[:size])
        rest = rest[size:]
        if not m[1]:  # not nested: one name, then the parameters
            break
    return "::".join(parts) if parts else name


def _take(found: list[str], match: re.Match[str] | None, skip: re.Pattern[str] | None) -> None:
    if match is None:
        return
    for name in match.groups():
        if name is None:
            continue
        name = demangle(name)
        if skip is None or not skip.search(name):
            found.append(name)


def _walk(frames: Frames, text: str, parts: tuple[Part, ...], skip: re.Pattern[str] | None,
          choose: Callable[[list[str]], tuple[str, str]]) -> tuple[list[tuple[str, str]], bool]:
    """The chosen (stripped, raw) frame of each trace the parts walk through."""
    lines = text.split("\n")
    at, ok, traces = 0, True, 0
    raw: list[str] = []
    chosen: list[tuple[str, str]] = []
    p = 0
    while True:
        if p == len(parts) or (parts[p] is TRACE and traces):
            pair = choose(raw)
            if not pair[0]:
                pair, ok = ("corrupted", "corrupted"), False
            chosen.append(pair)
            raw = []
        if p == len(parts):
            return chosen, ok
        part = parts[p]
        traces += part is TRACE
        nxt = parts[p + 1] if part is TRACE and p + 1 < len(parts) else None
        while at < len(lines):
            line = lines[at]
            at += 1
            if any(b.search(line) for b in frames.broken):
                ok = False
                break
            if isinstance(part, re.Pattern):  # a pattern part: the first line it matches
                if m := part.search(line):
                    _take(raw, m, skip)
                    break
                continue
            # TRACE: frame lines up to the next trace, or the line the next part matches
            if any(s.search(line) for s in frames.starts):
                break
            if isinstance(nxt, re.Pattern) and (m := nxt.search(line)):
                _take(raw, m, skip)
                p += 1
                break
            _take(raw, next((m for r in frames.lines if (m := r.search(line))), None), skip)
        p += 1


def guilty_frames(frames: Frames, stack: Stack, text: str) -> tuple[list[tuple[str, str]], bool]:
    """The guilty function of each trace ``stack`` walks, stripped and raw; and
    whether every trace gave one."""
    skip = frames.skipper(stack.skip)

    def choose(raw: list[str]) -> tuple[str, str]:
        if not raw:
            return ("", "")
        stripped = [frames.strip(f) for f in raw]
        if stack.pick is None:
            return (stripped[0], raw[0])
        name, index = stack.pick(stripped)
        return (name, raw[index]) if name else ("", "")

    found, ok = _walk(frames, text, stack.parts, skip, choose)
    if ok or not stack.fallback:
        return found, ok
    return _walk(frames, text, stack.fallback, skip, choose)


def _fill(template: str, args: Sequence[str]) -> str:
    return template.format(*args, *([""] * 4))


def describe(text: str, rule: Oops, frames: Frames) -> Description:
    """Name the report that starts ``text`` by the first of ``rule``'s formats
    to match earliest."""
    out = Description()
    start = len(text)
    seen_title = False
    for f in rule.formats:
        m = f.title.search(text)
        if m is None or m.start() > start or (m.start() == start and out.title):
            continue
        if m.start() < start:
            out = Description()
            start = m.start()
        seen_title = True
        if f.report is not None:
            m = f.report.search(text)
            if m is None:
                continue
        prefix = [g or "" for g in m.groups()]
        broken = ""
        picked: list[tuple[str, str]] = []
        if f.stack is not None:
            picked, ok = guilty_frames(frames, f.stack, text[m.start():])
            broken = "" if ok else "extracted no frames"
        args = prefix + [name for name, _ in picked]
        title = _fill(f.template, args)
        alts = [_fill(a, args) for a in f.alt]
        if frames.prefixes:  # the raw frames, and each prefix cut alone, give alternatives
            for cut in ("", *frames.prefixes):
                names = [raw.removeprefix(cut) for _, raw in picked]
                if cut and all(n == raw for n, (_, raw) in zip(names, picked, strict=True)):
                    continue
                variant = prefix + names
                if (other := _fill(f.template, variant)) != title:
                    alts.append(other)
                alts += [_fill(a, variant) for a in f.alt]
        out = Description(title, broken, list(dict.fromkeys(alts)), f)
    if not out.title:
        out.broken = "matched title but not report regexp" if seen_title else ""
        at = text.find(rule.header)
        if at >= 0:
            end = text.find("\n", at)
            out.title = text[at:end if end >= 0 else len(text)]
    if not out.broken and out.format is not None and out.format.corrupted:
        out.broken = "report format is marked as corrupted"
    return out


def _until_stable(pattern: re.Pattern[str], repl: str, text: str) -> str:
    while (new := pattern.sub(repl, text)) != text:
        text = new
    return text


# Parts of a title that change from run to run: pids, addresses, numbers.
_VOLATILE = (
    (re.compile(r"syz-executor\.?\d+(?:[/:]\d+)?"), "syz-executor"),
    (re.compile(r"syzkaller\d+(?:[/:]\d+)?"), "syzkaller"),
    (re.compile(r"([^A-Za-z0-9])(?:0x)?[0-9a-f]{6,}"), r"\1ADDR"),
    (re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"), "IP"),
    (re.compile(r"(\.\w+)(?::\d+)+"), r"\1:LINE"),
    (re.compile(r"([A-Za-z][A-Za-z0-9_.]+)\+0x[0-9a-z]+/0x[0-9a-z]+"), r"\1"),
    (re.compile(r"CPU#\d+"), "CPU"),
    (re.compile(r"(\W)\d+(\W|$)"), r"\1NUM\2"),
    (re.compile(r"\d{7,}"), "NUM"),
)

TITLE_BYTES = 120  # corrupted or interleaved lines can run long


def tidy_title(title: str) -> str:
    """The title with volatile parts replaced, controls dropped, spaces single."""
    for pattern, repl in _VOLATILE:
        title = _until_stable(pattern, repl, title)
    out: list[str] = []
    budget = TITLE_BYTES
    for ch in title:
        budget -= len(ch.encode("utf-8", "replace"))
        if budget < 0:
            break
        if ch == "\t":
            ch = " "
        elif ch < " " or ch >= "\x7f":
            continue
        if ch == " " and (not out or out[-1] == " "):
            continue
        out.append(ch)
    return "".join(out).strip()
