"""gdb that knows the kernel: the KASLR offset of a running guest, and the
gdb command that loads its vmlinux there.

The kernel is linked at one address (``_text`` in System.map or the vmlinux's
symbol table) and KASLR moves it as a whole at boot: the offset is where
``_text`` is now (the guest's ``/proc/kallsyms``, read as root) less where it
was linked. gdb's ``symbol-file -o OFFSET vmlinux`` then puts every symbol,
line and frame where it is in the running kernel, so ``bt``, ``info threads``
and ``p jiffies`` read the truth.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from pathlib import Path

from vmtui.backends.symbols.symtab import SymbolsError, SymbolTable
from vmtui.backends.vm.capabilities import GuestShell

KALLSYMS_TEXT = "grep -m1 ' _text$' /proc/kallsyms"
_KALLSYMS_LINE = re.compile(r"^([0-9a-f]{8,16}) [Tt] _text$")


def linked_text(vmlinux: Path) -> int:
    """Where ``_text`` was linked: System.map beside the vmlinux, else its symbols."""
    system_map = vmlinux.with_name("System.map")
    if system_map.is_file():
        with open(system_map) as f:
            for line in f:
                if line.endswith(" _text\n"):
                    return int(line.split()[0], 16)
    found = SymbolTable(vmlinux).by_name.get("_text")
    if not found:
        raise SymbolsError(f"{vmlinux}: no _text symbol: not a Linux kernel?")
    return found[0].addr


def runtime_text(kallsyms_line: str) -> int:
    """``_text``'s address from a line of /proc/kallsyms.

    Raises:
        SymbolsError: the line is not ``ADDRESS T _text``, or the address is
            hidden (kptr_restrict shows zeros to a reader without CAP_SYSLOG).
    """
    m = _KALLSYMS_LINE.match(kallsyms_line.strip())
    if m is None:
        raise SymbolsError(f"/proc/kallsyms: no _text line in {kallsyms_line.strip()[:80]!r}")
    if int(m[1], 16) == 0:
        raise SymbolsError("/proc/kallsyms hides addresses (kptr_restrict): read it as root")
    return int(m[1], 16)


async def guest_offset(shell: GuestShell, vmlinux: Path) -> int:
    """The KASLR offset of the guest behind ``shell`` (one command over SSH)."""
    result = await shell.run(KALLSYMS_TEXT, timeout=20.0)
    if result.status != 0:
        raise SymbolsError(f"reading /proc/kallsyms in the guest {result.describe()}")
    runtime = runtime_text(result.stdout.decode(errors="replace"))
    return runtime - await asyncio.to_thread(linked_text, vmlinux)


def with_vmlinux(gdb_command: str, vmlinux: Path, offset: int | None) -> str:
    """A stub's gdb command (``gdb ... -ex 'target remote SOCK'``) with the
    vmlinux loaded at the KASLR ``offset`` first (None: unknown, said in a comment)."""
    argv = shlex.split(gdb_command, comments=True)
    load = f"symbol-file -o {offset:#x} {vmlinux}" if offset is not None \
        else f"symbol-file {vmlinux}"
    at = next((i for i in range(len(argv) - 1) if argv[i] == "-ex"
               and argv[i + 1].startswith("target remote")), len(argv))
    argv[at:at] = ["-ex", load]
    if argv and argv[0] == "gdb":
        argv[1:1] = ["-q"]
    note = "" if offset is not None else \
        "  # KASLR offset unknown: add -o (guest _text - linked _text)"
    return shlex.join(argv) + note
