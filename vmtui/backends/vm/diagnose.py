"""Diagnosing a stuck guest: kernel debugger sequences, SysRq, registers, NMI.

The BSD sequences are syzkaller's: written to the serial console one line at
a time, a pause after each, so a ddb prompt can keep up. SysRq goes through
the emulated keyboard (QMP send-key: works when SSH is dead) or through
/proc/sysrq-trigger over SSH when asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

FREEBSD_DDB = ("", "set $lines = 0", "set $maxwidth = 0", "show registers", "show proc", "ps",
               "show all locks", "show malloc", "show uma", "show all tcpcbs/bl")
OPENBSD_DDB = ("", "set $lines = 0", "set $maxwidth = 0", "show panic", "show kasan", "trace",
               "show registers", "show proc", "ps", "show all locks", "show malloc",
               "show all pools", "machine ddbcpu 0", "trace", "machine ddbcpu 1", "trace")
SEQUENCES = {"freebsd": FREEBSD_DDB, "openbsd": OPENBSD_DDB}

# SysRq letters and what the kernel prints; "c" crashes the guest.
SYSRQ = {"t": "Show State", "w": "Show Blocked State", "l": "Show backtrace of all active CPUs",
         "m": "Show Memory", "d": "Show Locks Held", "p": "Show Regs", "c": "Trigger a crash"}
DESTRUCTIVE_SYSRQ = frozenset("cbo")

Write = Callable[[bytes], Awaitable[None]]


@dataclass
class Diagnosis:
    """What a diagnose action produced, for the console timeline and the evidence.

    ``sections`` holds what vmtui did or read for each step; ``marks`` where in
    the timeline (a ring sequence number) each step began, so the console lines
    a step produced can be cut from it (from its mark to the next step's).
    """

    action: str
    sections: dict[str, str] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)

    def text(self, output: dict[str, str] | None = None) -> str:
        """The sections as text, each followed by its console ``output`` if given."""
        output = output or {}
        return "".join(f"== {title} ==\n{body.rstrip()}\n{output.get(title, '')}"
                       for title, body in self.sections.items())


async def send_sequence(write: Write, lines: tuple[str, ...], pace: float = 1.0) -> None:
    """Type ``lines`` into a debugger prompt, ``pace`` seconds apart."""
    for line in lines:
        await write(line.encode() + b"\n")
        await asyncio.sleep(pace)


def sysrq_keys(letter: str) -> tuple[str, ...]:
    """The QMP qcodes pressed together for SysRq ``letter`` (alt+sysrq+letter)."""
    if len(letter) != 1 or not letter.isalnum():
        raise ValueError(f"SysRq needs one letter or digit, not {letter!r}")
    return ("alt", "sysrq", letter.lower())
