"""The guilty file of a symbolised Linux report: the source file syzkaller
would name (and mail the maintainers of).

The first file:line of the report that is not a helper everybody calls
(headers, lib/, the allocators, locking, the scheduler, RCU, printk, the
fault and trap handlers...) is guilty; below it, a file deeper in the same
folder takes its place (a driver's helper blames the driver's own file).
An RCU stall is read from the interrupt's entry down, where the stalled code
is. Measured against syzkaller's pkg/report/testdata/linux/guilty corpus
(tests/data/guilty, tests/test_guilty.py).
"""

from __future__ import annotations

import posixpath
import re

FILE_LINE = re.compile(r"([A-Za-z0-9_\-./]*[A-Za-z0-9_\-]+\.[ch]):\d+")
# Files that are rarely the culprit: the code every report passes through.
# Each is matched at the start of the path and, like syzkaller's, is a prefix
# (an unescaped "." matching any character is kept: mm/sl.b.c covers
# mm/slab_common.c too, and the corpus depends on it).
NOT_GUILTY = re.compile("|".join([
    r".*\.h", r"lib/", r"virt/lib/", r"trusty/", r"mm/kasan/", r"mm/kmsan/", r"kernel/kcov.c",
    r"mm/sl.b.c", r"mm/percpu.*", *(f"mm/{name}.c" for name in (
        "filemap", "folio-compat", "truncate", "memory", "vmalloc", "page_alloc", "mempool",
        "util")),
    r"kernel/rcu/", r"kernel/locking/", r"kernel/sched/.*.c", r"kernel/printk/printk.*.c",
    *(f"kernel/{name}.c" for name in ("panic", "softirq", "kthread", "stacktrace", "workqueue")),
    r"kernel/time/timer.c", r"arch/.*/kernel/traps.c", r"arch/.*/kernel/unwind.*.c",
    r"arch/.*/mm/fault.c", r"arch/.*/mm/physaddr.c", r"arch/.*/kernel/stacktrace.c",
    r"arch/.*/kernel/apic/apic.c", r"arch/arm64/kernel/entry.*.c",
    r"arch/arm64/kernel/process\.c", r"arch/.*/lib/crc.*",
    r"net/core/dev.c", r"net/core/sock.c", r"net/core/skbuff.c", r"fs/proc/generic.c",
    r"drivers/usb/core/urb.c",
]))
# Lines that name a file without being a frame of the crash: lockdep's notes
# of where irqs were last enabled, "held at:" lists, lock chains.
NOT_A_FRAME = re.compile(r"(?:hardirqs|softirqs)\s+last\s+(?:enabled|disabled)|,\s+at:\s+"
                         r"|^\s*#\d+:|^Register r\d+ information")
_DEEPER = re.compile(r"^/[A-Za-z0-9_\-./]+/[A-Za-z0-9_\-]+\.[ch]$")
# Where an RCU stall's interrupted code begins.
_RCU_ENTRIES = ("apic_timer_interrupt+0x", "el1h_64_irq+0x", "Exception stack")


def _files(text: str) -> list[tuple[str, bool]]:
    """(file, may be guilty) of every line naming a file:line, in order."""
    out = []
    for line in text.splitlines():
        if m := FILE_LINE.search(line):
            out.append((m[1], not (NOT_GUILTY.match(m[1]) or NOT_A_FRAME.search(line))))
    return out


def _guilty(text: str) -> str:
    files = _files(text)
    guilty, rest = "", files
    for i, (name, ok) in enumerate(files):
        guilty = guilty or name  # never none at all, if any file is named
        if ok:
            guilty, rest = posixpath.normpath(name), files[i + 1:]
            break
    else:
        rest = []
    folder = posixpath.dirname(guilty)
    for name, ok in rest:
        clean = posixpath.normpath(name)
        if ok and clean.startswith(folder) and _DEEPER.match(clean[len(folder):]):
            guilty, folder = clean, posixpath.dirname(clean)
    return guilty


def guilty_file(title: str, report: str) -> str:
    """The guilty file of ``report`` (titled ``title``), "" when it names no file."""
    if title.startswith("INFO: rcu detected stall"):
        for entry in _RCU_ENTRIES:
            if (pos := report.find(entry)) != -1 and (found := _guilty(report[pos:])):
                return found
    return _guilty(report)
