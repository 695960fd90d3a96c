"""The few strings a block of Linux log is searched for, in one shared pass:
a line can start a report (or end one, a message with a stack) only if it
holds one of the report literals, and the log-wide flags (a suppression, a
console that hung up) can change only where one of theirs occurs.

Each anchor costs one ``str.find`` pass over the block (about 0.2 ms per MB
for a long anchor, 0.5 ms for one of five characters or fewer, here), and each
place it occurs costs a look in Python (a ``startswith`` for each literal
holding it, about a microsecond), and a line that holds a literal is then
judged line by line (tens of microseconds).
So the anchors are few, and each is rare in ordinary kernel output: "BUG"
stands for the four literals holding it, but nothing stands for "kernel"
(every line of ``journalctl -k`` holds it); a literal that no anchor covers
is its own anchor, so the choice is only ever a matter of speed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from vmtui.backends.monitor.report.model import HANGUP, literal_prefix, suppressions

# Measured on the ordinary boot bench/report_big.py repeats, and chosen so that
# the usual prefixes of kernel lines (a timestamp, "host kernel: ") never hold one.
CURATED = (
    "BUG",  # BUG:, kernel BUG, Kernel BUG, BUG kmalloc-
    "panic",  # Kernel panic, rust_kernel: panicked, trusty: panic, panic:, Go's panics
    "PANIC:",  # PANIC: double fault, INIT: PANIC: segmentation violation!
    "error:",  # divide error:, divide_error:, Internal error:, fatal error: (and Go's)
    "SYZFA",  # SYZFAIL:, SYZFATAL:, SYZFAIL: SIGBUS
    "Kill",  # Out of memory: Kill process, Killed process, lowmemorykiller: Killing
)


# Places of a flag's anchor looked at in a block, 64 and one per FLAG_SPAN
# characters: past them the block counts as flagged, as the exact check of the
# flags (about 4 ms for 1 MB) then costs less than looking on (about 1 us a place).
FLAG_LOOKS = 64
FLAG_SPAN = 256


@dataclass(frozen=True)
class Anchors:
    """What a block is searched for, and what each find stands for."""

    pieces: tuple[str, ...]
    # anchor -> (literal, where the anchor is in it), for each place of the anchor
    # in each report literal holding it; and in each flag literal
    heads: dict[str, tuple[tuple[str, int], ...]]
    flags: dict[str, tuple[tuple[str, int], ...]]
    always: bool  # a suppression with no literal: the flags are checked on every block

    def scan(self, block: str) -> tuple[list[int], bool]:
        """The starts of the lines of ``block`` that hold a report literal, in
        order; and whether a flag literal may occur in it (it does, or its
        anchors occur too often to look at each place)."""
        starts: set[int] = set()
        flagged = self.always
        looks = FLAG_LOOKS + len(block) // FLAG_SPAN
        for piece in self.pieces:
            heads, flags = self.heads[piece], self.flags[piece]
            if flagged and not heads:
                continue
            pos = block.find(piece)
            while pos >= 0:
                if heads:  # a literal holds no newline: it is in the anchor's line
                    start = block.rfind("\n", 0, pos) + 1
                    if start not in starts and any(
                            block.startswith(lit, pos - i) for lit, i in heads if pos >= i):
                        starts.add(start)
                if not flagged and flags:
                    looks -= 1
                    flagged = looks < 0 or any(
                        block.startswith(lit, pos - i) for lit, i in flags if pos >= i)
                pos = block.find(piece, pos + 1)
        return sorted(starts), flagged


def _fewest(literals: tuple[str, ...]) -> tuple[str, ...]:
    """The literals that hold none of the others (where one of those is, it is)."""
    unique = sorted(set(literals))
    return tuple(lit for lit in unique if not any(o != lit and o in lit for o in unique))


def choose(literals: tuple[str, ...], curated: tuple[str, ...] = CURATED) -> tuple[str, ...]:
    """The curated anchors that some literal holds, then each literal none of
    them covers (a shorter one first, so that it covers the longer ones holding it)."""
    pieces = [c for c in curated if any(c in lit for lit in literals)]
    for lit in sorted(set(literals), key=lambda s: (len(s), s)):
        if not any(p in lit for p in pieces):
            pieces.append(lit)
    return tuple(pieces)


@functools.cache
def linux_anchors() -> Anchors:
    """The anchors of Linux's report literals, its suppressions and the hangup."""
    from vmtui.backends.monitor.report.linux_rules import LINUX_OOPSES, WITH_STACK

    heads = tuple(o.header for o in LINUX_OOPSES) + WITH_STACK
    prefixes = tuple(literal_prefix(p.pattern) for p in suppressions("linux"))
    flags = tuple(p for p in prefixes if p) + (HANGUP,)
    for lit in heads + flags:
        if not lit or "\n" in lit:
            raise ValueError(f"report literal {lit!r}: empty or holding a newline")
    heads, flags = _fewest(heads), _fewest(flags)
    pieces = choose(heads + flags)
    return Anchors(pieces, _places(pieces, heads), _places(pieces, flags), not all(prefixes))


def _places(pieces: tuple[str, ...], literals: tuple[str, ...],
            ) -> dict[str, tuple[tuple[str, int], ...]]:
    return {p: tuple((lit, i) for lit in literals for i in range(len(lit)) if lit.startswith(p, i))
            for p in pieces}
