"""Symbolised reports: each ``func+0x16/0x30`` frame gets its file:line, and
the functions inlined there get a line of their own, as syzkaller writes them::

    __dump_stack lib/dump_stack.c:88 [inline]
    dump_stack_lvl+0x48/0x60 lib/dump_stack.c:106

The address is the function's start in the ELF plus the offset (KASLR moves
the kernel, never a function's offset); a return address (every frame but
the RIP line's) is looked up one byte back, inside the call. A frame of a
module (``[vmtui_crash]``) resolves against that module's .ko, given with
its debug info; a frame that cannot be resolved stays as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vmtui.backends.symbols.addr2line import Addr2Line, Frame
from vmtui.backends.symbols.symtab import SymbolsError, SymbolTable

# A frame: optional [<address>], blank or "(", optional "CPU:", the function,
# +0xOFF/0xSIZE, then an optional [module] or [module buildid].
FRAME = re.compile(r"(?:\[<(?:0x)?[0-9a-f]+>\])?[ \t(](?:\d+:)?(?P<func>[A-Za-z0-9_.]+)"
                   r"\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)"
                   r"(?P<mod> ?\[(?P<modname>[A-Za-z0-9_.]+)(?: [0-9a-f]+)?\])?")
# The faulting instruction itself (not a return address).
RIP_LINE = re.compile(r"\b(?:RIP|IP|NIP|pc) ?: ?(?:\d{4}:)?")
# Already symbolised: a file:line right after the frame.
_HAS_FILE = re.compile(r"^ +\S+\.[chS]:\d+")


@dataclass(frozen=True)
class _Wanted:
    index: int  # line number in the text
    match: re.Match[str]
    module: str
    addr: int
    section: str


class Symbolizer:
    """Resolves frames against a vmlinux and modules' .ko files (long-lived:
    its addr2line processes keep what they decoded; ``close()`` ends them)."""

    def __init__(self, vmlinux: Path, modules: Iterable[Path] = ()) -> None:
        if not vmlinux.is_file():
            raise SymbolsError(f"vmlinux: file not found: {vmlinux}")
        self.files: dict[str, Path] = {"": vmlinux}
        for ko in modules:
            if not ko.is_file():
                raise SymbolsError(f"kernel_modules: file not found: {ko}")
            self.files[ko.name.removesuffix(".ko").replace("-", "_")] = ko
        self.tables: dict[str, SymbolTable] = {}
        self.procs: dict[tuple[str, str], Addr2Line] = {}

    def table(self, module: str) -> SymbolTable | None:
        if module not in self.files:
            return None
        if module not in self.tables:
            self.tables[module] = SymbolTable(self.files[module])
        return self.tables[module]

    def _proc(self, module: str, section: str) -> Addr2Line:
        key = (module, section)
        if key not in self.procs:
            self.procs[key] = Addr2Line(self.files[module], section)
        return self.procs[key]

    def _wanted(self, index: int, line: str) -> _Wanted | None:
        m = FRAME.search(line)
        if m is None or _HAS_FILE.match(line[m.end():]):
            return None
        module = (m["modname"] or "").replace("-", "_")
        table = self.table(module)
        sym = table.find(m["func"], int(m["size"], 16)) if table else None
        if sym is None:
            return None
        addr = sym.addr + int(m["off"], 16)
        rip = RIP_LINE.search(line[:m.start() + 1]) is not None
        return _Wanted(index, m, module, addr if rip else max(addr - 1, 0), sym.section)

    def symbolize(self, text: str) -> str:
        """``text`` with every frame it can resolve given file:line (and inlined lines)."""
        lines = text.split("\n")
        wanted = [w for i, ln in enumerate(lines) if (w := self._wanted(i, ln))]
        groups: dict[tuple[str, str], list[_Wanted]] = {}
        for w in wanted:
            groups.setdefault((w.module, w.section), []).append(w)
        answers: dict[int, list[Frame]] = {}
        for (module, section), items in groups.items():
            found = self._proc(module, section).lookup([w.addr for w in items])
            answers.update({w.index: frames for w, frames in zip(items, found, strict=True)})
        for w in reversed(wanted):
            if frames := answers.get(w.index):
                lines[w.index:w.index + 1] = _written(lines[w.index], w.match, frames)
        return "\n".join(lines)

    def close(self) -> None:
        for proc in self.procs.values():
            proc.close()
        self.procs.clear()

    def __enter__(self) -> Symbolizer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _written(line: str, m: re.Match[str], frames: list[Frame]) -> list[str]:
    """The frame's line, once per frame: inlined ones named by their function."""
    size_end = m.end("size")
    out = []
    for frame in frames:
        where = f" {frame.file}:{frame.line}"
        if frame.inline:
            out.append(f"{line[:m.start('func')]}{frame.func}{where} [inline]"
                       f"{line[size_end:]}")
        else:
            out.append(f"{line[:size_end]}{where}{line[size_end:]}")
    return out
