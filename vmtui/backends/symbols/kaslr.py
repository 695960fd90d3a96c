"""gdb that knows the kernel: the KASLR offset of a running guest, and the
gdb command that loads its vmlinux there.

The kernel is linked at one address (``_text`` in System.map or the vmlinux's
symbol table) and KASLR moves it as a whole at boot: the offset is where
``_text`` is now (the guest's ``/proc/kallsyms``, read as root) less where it
was linked. A panicked kernel cannot be asked (pvpanic has paused it), but x86
said the offset on the console as it died (``Kernel Offset: 0x... from ...``).
Nor can it be asked while gdb holds its vCPUs: on x86-64, gdb computes the
offset itself as it attaches, from the handler of vector 0 in the IDT (mapped
read-only at a fixed address, the CPU entry area) less where that handler was
linked. gdb's ``symbol-file -o OFFSET vmlinux`` then puts every symbol, line and frame
where it is in the running kernel, so ``bt``, ``info threads`` and ``p jiffies``
read the truth.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Iterable
from pathlib import Path

from vmtui.backends.symbols.symtab import SymbolsError, SymbolTable
from vmtui.backends.vm.capabilities import GuestShell

KALLSYMS_TEXT = "grep -m1 ' _text$' /proc/kallsyms"
_PANIC_OFFSET = re.compile(r"Kernel Offset: (?:(0x[0-9a-f]{1,16}) from 0x[0-9a-f]+|(disabled))")
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


def offset_said(lines: Iterable[str]) -> int | None:
    """The offset the last ``Kernel Offset:`` line of a panic gives (0: KASLR
    disabled), or None when no line says it."""
    found = None
    for line in lines:
        if "Kernel Offset:" in line and (m := _PANIC_OFFSET.search(line)):
            found = int(m[1], 16) if m[1] else 0
    return found


async def guest_offset(shell: GuestShell, vmlinux: Path) -> int:
    """The KASLR offset of the guest behind ``shell`` (one command over SSH)."""
    result = await shell.run(KALLSYMS_TEXT, timeout=20.0)
    if result.status != 0:
        raise SymbolsError(f"reading /proc/kallsyms in the guest {result.describe()}")
    runtime = runtime_text(result.stdout.decode(errors="replace"))
    return runtime - await asyncio.to_thread(linked_text, vmlinux)


# x86-64: the IDT's read-only mapping in the CPU entry area (fixed, not randomised),
# and the names vector 0's handler has had.
IDT_X86_64 = 0xFFFF_FE00_0000_0000
VECTOR0 = ("asm_exc_divide_error", "divide_error")


def idt_anchor(vmlinux: Path) -> int:
    """Where vector 0's handler was linked in ``vmlinux``.

    Raises:
        SymbolsError: the vmlinux names no such handler (not an x86-64 Linux).
    """
    table = SymbolTable(vmlinux)
    for name in VECTOR0:
        if found := table.by_name.get(name):
            return found[0].addr
    raise SymbolsError(f"{vmlinux}: no {' or '.join(VECTOR0)}: the KASLR offset cannot be "
                       "read from the IDT")


def with_vmlinux_by_idt(gdb_command: str, vmlinux: Path, anchor: int) -> str:
    """A stub's gdb command that, once attached, reads vector 0's gate in the
    IDT, and loads ``vmlinux`` offset by where that handler is less ``anchor``."""
    gate = ("(($vmtui_g0 & 0xffff) | (($vmtui_g0 >> 32) & 0xffff0000)"
            " | (($vmtui_g1 & 0xffffffff) << 32))")
    steps = [f"set $vmtui_g0 = *(unsigned long long *){IDT_X86_64:#x}",
             f"set $vmtui_g1 = *(unsigned long long *){IDT_X86_64 + 8:#x}",
             f'eval "symbol-file -o %#llx {vmlinux}", {gate} - {anchor:#x}']
    argv = shlex.split(gdb_command, comments=True)
    if argv and argv[0] == "gdb":
        argv[1:1] = ["-q"]
    for step in steps:
        argv += ["-ex", step]
    return shlex.join(argv)


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
