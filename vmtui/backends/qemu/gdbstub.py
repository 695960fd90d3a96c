"""QEMU's gdb stub, served to the owner only.

Whoever reaches the stub reads and writes guest memory and stops the vCPUs, so
it never listens on a TCP port (any local user may connect to a loopback port):
it is a unix socket inside the fleet's runtime folder, which is private (mode
0700, ours), so connecting as another user fails with EACCES. QEMU removes the
socket when the stub closes (``gdbserver none``).

gdb 13 attaches to a unix socket by its path: ``target remote PATH`` (gdb takes
a name holding ``:`` as ``HOST:PORT``, so such a path is refused here).
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from vmtui.backends.qemu.devices import opt
from vmtui.backends.vm.errors import StateError

# gdb's name for each architecture (syzkaller's target names on the left).
GDB_ARCH = {"amd64": "i386:x86-64", "386": "i386", "arm64": "aarch64", "arm": "arm",
            "riscv64": "riscv:rv64", "ppc64le": "powerpc:common64", "s390x": "s390:64-bit",
            "mips64le": "mips:isa64"}

SUN_PATH_MAX = 107  # bytes of a unix socket path (sun_path, less its NUL)


def socket_path(runtime_dir: Path, name: str) -> Path:
    """Where instance ``name``'s stub listens: beside its QMP socket."""
    return runtime_dir / f"{name}.gdb"


def check_private(path: Path) -> None:
    """Refuse a stub whose folder another user could enter, or whose path gdb
    would misread.

    Raises:
        StateError: naming the folder or the path and what is wrong with it.
    """
    folder = path.parent
    try:
        info = folder.lstat()
    except OSError as exc:
        raise StateError(f"gdb stub: the runtime folder {folder} is gone: "
                         f"{exc.strerror}") from exc
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() \
            or info.st_mode & 0o077:
        raise StateError(f"gdb stub: the runtime folder {folder} is not a private folder "
                         f"of this user (mode {stat.filemode(info.st_mode)}, uid "
                         f"{info.st_uid}): another user could reach the stub")
    if ":" in str(path):
        raise StateError(f"gdb stub: {path} holds ':', which gdb reads as HOST:PORT; "
                         "set TMPDIR to a folder whose path has no ':'")
    if len(os.fsencode(path)) > SUN_PATH_MAX:
        raise StateError(f"gdb stub: {path} is longer than a unix socket path may be "
                         f"({SUN_PATH_MAX} bytes); set TMPDIR to a shorter folder")


def hmp_open(path: Path) -> str:
    """The HMP command that opens the stub on ``path`` (quoted for HMP, commas
    doubled for QEMU's option parser)."""
    device = f"unix:{opt(path)},server=on,wait=off"
    return 'gdbserver "' + device.replace("\\", "\\\\").replace('"', '\\"') + '"'


def attach_command(path: Path, arch: str) -> str:
    """The shell command that attaches gdb to the stub on ``path``."""
    argv = ["gdb"]
    if arch in GDB_ARCH:
        argv += ["-ex", f"set architecture {GDB_ARCH[arch]}"]
    argv += ["-ex", f"target remote {path}"]
    return shlex.join(argv) + "  # add your vmlinux for symbols"
