"""Function symbols of an ELF file (a vmlinux or a module's .ko), by name.

A report's frame is ``func+0x16/0x30``: the address is the function's start
in the ELF plus the offset, which holds under KASLR too (the report never
gives a runtime address to trust). A name can be there more than once (static
functions of several files); the frame's size picks among them, as syzkaller
does. Read with binutils' ``readelf`` (one run, about 0.3 s for a vmlinux).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


class SymbolsError(Exception):
    """An ELF file's symbols cannot be read; the message names the file and why."""


@dataclass(frozen=True)
class Symbol:
    addr: int
    size: int
    section: str  # "" in a linked vmlinux (addresses are absolute); the section in a .ko


_SYM = re.compile(r"^\s*\d+:\s+([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+(FUNC|NOTYPE)\s+\S+\s+\S+\s+"
                  r"(\d+)\s+(\S+)$")
_SECTION = re.compile(r"^\s*\[\s*(\d+)\]\s+(\S+)\s+\S+")


def run_tool(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise SymbolsError(f"cannot run {argv[0]}: {exc.strerror} (install binutils)") from exc
    if done.returncode != 0:
        raise SymbolsError(f"{argv[-1]}: {done.stderr.strip() or 'not an ELF file'}")
    return done.stdout


def is_relocatable(path: Path) -> bool:
    """A .ko (ET_REL): its symbols are offsets in their sections."""
    with open(path, "rb") as f:
        head = f.read(18)
    if head[:4] != b"\x7fELF":
        raise SymbolsError(f"{path}: not an ELF file")
    return int.from_bytes(head[16:18], "little" if head[5] == 1 else "big") == 1


class SymbolTable:
    """name -> every function symbol of that name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.relocatable = is_relocatable(path)
        sections: dict[str, str] = {}
        if self.relocatable:
            for line in run_tool(["readelf", "-SW", str(path)]).splitlines():
                if m := _SECTION.match(line):
                    sections[m[1]] = m[2]
        self.by_name: dict[str, list[Symbol]] = {}
        for line in run_tool(["readelf", "-sW", str(path)]).splitlines():
            m = _SYM.match(line)
            if m is None:
                continue
            size = int(m[2], 0)
            section = sections.get(m[4], "") if self.relocatable else ""
            self.by_name.setdefault(m[5], []).append(Symbol(int(m[1], 16), size, section))
        if not self.by_name:
            raise SymbolsError(f"{path}: no function symbols (stripped?)")

    def find(self, name: str, size: int) -> Symbol | None:
        """The symbol ``name`` whose size is ``size``, else the first of that name."""
        found = self.by_name.get(name)
        if not found:
            return None
        return next((s for s in found if s.size == size), found[0])
