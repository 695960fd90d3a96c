"""A minimal writer for the "newc" cpio format the kernel unpacks as initramfs.

Written here rather than by the ``cpio`` tool so every entry is owned by root
whoever builds it (dropbear refuses an authorized_keys file owned by another
user) and the archive is byte-for-byte reproducible (mtime 0).
"""

from __future__ import annotations

import stat
from typing import BinaryIO

_TRAILER = "TRAILER!!!"


class CpioWriter:
    """Appends entries to a newc archive; call :meth:`close` to finish it."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._ino = 1
        self._names: set[str] = set()

    def _header(self, name: str, mode: int, size: int, nlink: int = 1) -> None:
        encoded = name.encode() + b"\0"
        fields = [self._ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(encoded), 0]
        self._ino += 1
        self._out.write(b"070701" + b"".join(b"%08X" % f for f in fields))
        self._out.write(encoded)
        self._pad(110 + len(encoded))

    def _pad(self, length: int) -> None:
        self._out.write(b"\0" * (-length % 4))

    def _claim(self, name: str) -> str:
        name = name.strip("/")
        if name in self._names:
            raise ValueError(f"duplicate initramfs entry {name}")
        self._names.add(name)
        return name

    def directory(self, name: str, mode: int = 0o755) -> None:
        """Add a directory (parents are not implied: add them first)."""
        self._header(self._claim(name), stat.S_IFDIR | mode, 0, nlink=2)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        """Add a regular file with ``data`` as its content."""
        self._header(self._claim(name), stat.S_IFREG | mode, len(data))
        self._out.write(data)
        self._pad(len(data))

    def symlink(self, name: str, target: str) -> None:
        """Add a symbolic link."""
        data = target.encode()
        self._header(self._claim(name), stat.S_IFLNK | 0o777, len(data))
        self._out.write(data)
        self._pad(len(data))

    def has(self, name: str) -> bool:
        return name.strip("/") in self._names

    def close(self) -> None:
        """Write the trailer entry that ends the archive."""
        self._header(_TRAILER, 0, 0)
