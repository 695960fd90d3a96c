"""Reading a guest's kernel symbols over its shell, cheaply and quietly.

The kernel's table is read once per kernel (by ``/proc/version``) and this
process: 1.9 MB of code symbols, about 1.2 s of the guest's time under TCG.
Each boot after that needs only the line of ``_text`` (KASLR moves the whole
kernel): about 40 ms. Modules sit wherever they were loaded: their symbols
are read apart, again whenever ``/proc/modules`` changes. Every read is a
:class:`~vmtui.backends.vm.capabilities.GuestReader` read: nothing of it
joins the console.
"""

from __future__ import annotations

import asyncio

from vmtui.backends.monitor.symbols import (
    Symbols,
    parse_kallsyms,
    parse_module_symbols,
    text_address,
)
from vmtui.backends.vm.capabilities import GuestReader

# The guest's version and where _text is this boot: _text comes right after the
# per-CPU symbols, so grep stops early.
HEAD_READ = "cat /proc/version; grep -m1 ' _text$' /proc/kallsyms"
KERNEL_READ = "grep -i ' [tw] ' /proc/kallsyms"  # code only: t, T, w, W
MODULES_READ = "cat /proc/modules"
MODULE_SYMBOLS_READ = "grep -F '[' /proc/kallsyms || true"  # none loaded: no lines
# Kernel tables by the guest's /proc/version (relative to _text: any boot's).
KERNELS: dict[str, Symbols] = {}


async def load_symbols(shell: GuestReader, kernel: Symbols | None = None,
                       timeout: float = 15.0) -> Symbols:
    """The kernel's code symbols in the guest's current boot.

    ``kernel``: a table of this kernel from elsewhere (a System.map, read with
    :func:`~vmtui.backends.monitor.symbols.parse_system_map`); without it the
    guest's kallsyms is read once per kernel version and kept.

    Raises:
        VMError: the guest cannot be asked; SymbolsError: its answer is unusable.
    """
    head = (await shell.read(HEAD_READ, timeout)).decode(errors="replace")
    version, _, line = head.partition("\n")
    base = text_address(line)
    if kernel is None:
        kernel = KERNELS.get(version)
    if kernel is None:
        text = (await shell.read(KERNEL_READ, max(timeout, 120.0))).decode(errors="replace")
        kernel = KERNELS[version] = await asyncio.to_thread(parse_kallsyms, text)
    return kernel.at(base)


async def load_modules(shell: GuestReader, known: bytes | None,
                       timeout: float = 60.0) -> tuple[bytes, Symbols | None] | None:
    """``(/proc/modules, the modules' symbols)``, or None when the listing is ``known``.

    Raises:
        VMError: the guest cannot be asked.
    """
    listing = await shell.read(MODULES_READ, min(timeout, 10.0))
    if listing == known:
        return None
    text = (await shell.read(MODULE_SYMBOLS_READ, timeout)).decode(errors="replace")
    return listing, parse_module_symbols(text)
