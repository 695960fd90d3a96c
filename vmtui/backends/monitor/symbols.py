"""Kernel addresses to ``func+0xoff/0xsize``: the seam between a symbol table and its readers.

A :class:`Symbols` holds a kernel's text symbols *relative to* ``_text`` plus
the address ``_text`` has in one boot. KASLR moves the kernel as a whole, so
one table serves every boot of a kernel: only :attr:`Symbols.base` changes.

Either source fills it:

- the guest's ``/proc/kallsyms`` (:func:`parse_kallsyms`), read while the
  guest is healthy (fleet/stuck.py does, once per kernel, then only ``_text``
  each boot);
- a ``System.map`` (:func:`parse_system_map`), its addresses unrandomised,
  rebased with :meth:`Symbols.at` to the boot's ``_text`` (from kallsyms'
  first lines, or VMCOREINFO's ``KERNELOFFSET`` added to the map's ``_text``).

Names come from the guest (kallsyms) or a file the operator named: the
lookup returns them as plain strings; whoever shows them makes them inert.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

# "ffffffff81000000 T _text" and, for a module's symbol, " [vmtui_crash]" after it.
_LINE = re.compile(r"^([0-9a-fA-F]{1,16}) ([A-Za-z]) (\S+)(?:[ \t]+\[(\S+)\])?[ \t\r]*$", re.M)
# Code: text symbols, global or local, and weak ones.
_TEXT_TYPES = frozenset("tTwW")
ANCHOR = "_text"
# Bytes after the last symbol still counted as inside it (kallsyms gives no sizes).
_LAST_SIZE = 0x1000


class SymbolsError(ValueError):
    """A symbol table that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Located:
    """Where an address falls: ``name+0xoffset/0xsize`` (size: to the next symbol)."""

    name: str
    offset: int
    size: int
    module: str = ""

    def __str__(self) -> str:
        where = f"{self.name}+{self.offset:#x}/{self.size:#x}"
        return f"{where} [{self.module}]" if self.module else where


class Symbols:
    """A sorted table of code symbols, rebased to one boot.

    Args:
        starts: each symbol's start, relative to ``_text``, ascending.
        names: the names, in the same order.
        modules: the module each belongs to ("" for the kernel's own).
        base: where ``_text`` is in the boot this table describes.
    """

    def __init__(self, starts: list[int], names: list[str], modules: list[str],
                 base: int, loaded: Symbols | None = None) -> None:
        self._starts, self._names, self._modules = starts, names, modules
        self.base = base
        self.loaded = loaded  # the modules' symbols, at their addresses in this boot

    def __len__(self) -> int:
        return len(self._starts)

    def at(self, base: int) -> Symbols:
        """The same kernel, loaded at another ``_text`` (another boot's KASLR); no modules."""
        return Symbols(self._starts, self._names, self._modules, base)

    def with_modules(self, loaded: Symbols | None) -> Symbols:
        """This kernel with ``loaded`` (:func:`parse_module_symbols`) for module code."""
        return Symbols(self._starts, self._names, self._modules, self.base, loaded)

    def address(self, name: str) -> int | None:
        """The absolute address of ``name`` in this boot (the first, if several)."""
        for start, known in zip(self._starts, self._names, strict=True):
            if known == name:
                return self.base + start
        return None

    def lookup(self, address: int) -> Located | None:
        """The symbol ``address`` falls in, or None when it is outside them all."""
        rel = address - self.base
        i = bisect.bisect_right(self._starts, rel) - 1
        if i >= 0:
            start = self._starts[i]
            end = self._starts[i + 1] if i + 1 < len(self._starts) else start + _LAST_SIZE
            if rel < end:
                return Located(self._names[i], rel - start, end - start, self._modules[i])
        return self.loaded.lookup(address) if self.loaded is not None else None

    def describe(self, address: int) -> str:
        """``func+0x1a/0x40`` for ``address``, or its hex digits when no symbol holds it."""
        found = self.lookup(address)
        return str(found) if found is not None else f"{address:016x}"


def _table(text: str, what: str) -> tuple[int, list[tuple[int, str, str]]]:
    """(``_text``'s address, [(address, name, module)] of code) from ``text``."""
    anchor: int | None = None
    rows: list[tuple[int, str, str]] = []
    for m in _LINE.finditer(text):
        address, kind, name, module = int(m[1], 16), m[2], m[3], m[4] or ""
        if module:
            continue  # a module's: where it sits changes with every load
        if name == ANCHOR:
            anchor = address
        if kind in _TEXT_TYPES and address:
            rows.append((address, name, module))
    if not anchor:
        first = text.lstrip().partition("\n")[0][:100]
        raise SymbolsError(f"{what}: no {ANCHOR} symbol (not a kernel symbol table, or its "
                           f"addresses are hidden: kptr_restrict); it begins {first!r}")
    if not rows:
        raise SymbolsError(f"{what}: no code symbols")
    rows.sort()
    return anchor, rows


def _build(anchor: int, rows: list[tuple[int, str, str]], base: int) -> Symbols:
    return Symbols([a - anchor for a, _, _ in rows], [n for _, n, _ in rows],
                   [m for _, _, m in rows], base)


def parse_kallsyms(text: str) -> Symbols:
    """The kernel's own code symbols from a guest's ``/proc/kallsyms`` (or its code
    lines), in that boot; modules' lines are left to :func:`parse_module_symbols`.

    Raises:
        SymbolsError: no ``_text`` (addresses hidden as zeros) or no code symbols.
    """
    anchor, rows = _table(text, "kallsyms")
    return _build(anchor, rows, anchor)


def parse_system_map(text: str, base: int | None = None) -> Symbols:
    """The table of a ``System.map``, rebased to ``_text`` at ``base`` (default: as linked).

    Raises:
        SymbolsError: no ``_text`` or no code symbols.
    """
    anchor, rows = _table(text, "System.map")
    return _build(anchor, rows, anchor if base is None else base)


def parse_module_symbols(text: str) -> Symbols | None:
    """The code symbols of loaded modules (kallsyms lines with ``[module]``), at
    their addresses; None when there are none."""
    rows = [(int(m[1], 16), m[3], m[4]) for m in _LINE.finditer(text)
            if m[4] and m[2] in _TEXT_TYPES and int(m[1], 16)]
    if not rows:
        return None
    rows.sort()
    return _build(0, rows, 0)


def text_address(line: str) -> int:
    """``_text``'s address from its kallsyms line (``ffffffffa5c00000 T _text``).

    Raises:
        SymbolsError: the line is not that, or the address is hidden (zero).
    """
    m = _LINE.match(line.strip())
    if m is None or m[3] != ANCHOR or int(m[1], 16) == 0:
        raise SymbolsError(f"not a usable {ANCHOR} line: {line.strip()[:80]!r} "
                           "(addresses hidden by kptr_restrict?)")
    return int(m[1], 16)
