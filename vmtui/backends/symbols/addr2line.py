"""binutils' ``addr2line`` in a long-lived process: addresses in on stdin,
``function`` / ``file:line`` pairs out (inlined callers too, ``-i``).

Measured (bench/symbolize.py): addr2line keeps what it decoded of each
compilation unit, so the first frames of a new part of the kernel cost a few
milliseconds each and every later one microseconds. One process per ELF file
(and per section of a .ko, whose addresses are section offsets) lives as long
as its ``Symbolizer``. A query is a batch: the addresses, then a sentinel
address whose answer (``??``) marks the end.
"""

from __future__ import annotations

import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from vmtui.backends.symbols.symtab import SymbolsError

_SENTINEL = 0xFFFF_FFFF_FFFF_FFFF
_HEADER = re.compile(r"^0x([0-9a-f]+)$")
_FILE_LINE = re.compile(r"^(.*):(\d+|\?)(?: \(discriminator \d+\))?$")
# Where Debian's kernel was built, and where out-of-tree modules are: frames
# name files relative to the kernel's source tree, as syzkaller's reports do.
_BUILD_PREFIXES = re.compile(
    r"^(?:/build/[^ ]*?/linux-[^/]+/|(?:.*/)?debian/build/build_[^/]+/"
    r"|/usr/src/linux-headers-[^/]+/)")


@dataclass(frozen=True)
class Frame:
    func: str
    file: str  # "" when unknown
    line: int
    inline: bool  # inlined into the next frame


def clean_path(path: str) -> str:
    """A source path as the kernel tree names it (arch/x86/kernel/head_64.S)."""
    path = _BUILD_PREFIXES.sub("", path)
    while path.startswith("./"):
        path = path[2:]
    return path.replace("/./", "/")


def parse_answer(lines: list[str]) -> list[Frame]:
    """The frames of one address's answer (function, file:line pairs; innermost first)."""
    frames = []
    for func, where in zip(lines[0::2], lines[1::2], strict=False):
        m = _FILE_LINE.match(where)
        file, line = (m[1], m[2]) if m else ("??", "?")
        if file == "??" or line in ("?", "0"):
            continue
        frames.append(Frame(func if func != "??" else "", clean_path(file), int(line), True))
    if frames:
        frames[-1] = Frame(frames[-1].func, frames[-1].file, frames[-1].line, False)
    return frames


class Addr2Line:
    """One ``addr2line -a -i -f -e FILE [-j SECTION]`` process."""

    def __init__(self, path: Path, section: str = "") -> None:
        argv = ["addr2line", "-a", "-i", "-f", "-e", str(path)]
        if section:
            argv += ["-j", section]
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True)
        except OSError as exc:
            raise SymbolsError(f"cannot run addr2line: {exc.strerror} "
                               "(install binutils)") from exc
        self.lock = threading.Lock()

    def lookup(self, addrs: list[int]) -> list[list[Frame]]:
        """The frames of each address, in order ([] where nothing is known)."""
        with self.lock:
            stdin, stdout = self.proc.stdin, self.proc.stdout
            assert stdin is not None and stdout is not None
            try:
                stdin.write("".join(f"{a:x}\n" for a in (*addrs, _SENTINEL)))
                stdin.flush()
            except OSError as exc:
                raise SymbolsError(f"addr2line ended: {exc.strerror}") from exc
            answers: list[list[str]] = []
            while True:
                line = stdout.readline()
                if not line:
                    raise SymbolsError("addr2line ended while answering")
                m = _HEADER.match(line.rstrip("\n"))
                if m:
                    if int(m[1], 16) == _SENTINEL and len(answers) == len(addrs):
                        stdout.readline()
                        stdout.readline()
                        break
                    answers.append([])
                elif answers:
                    answers[-1].append(line.rstrip("\n"))
        return [parse_answer(a) for a in answers]

    def close(self) -> None:
        if self.proc.poll() is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
