"""Machines vmtui does not start, played by test guests a fixture starts itself.

Each "board" is a QEMU guest with its serial port on a pty (behind QEMU's mux,
so Ctrl-A b on the line is a BREAK, as a console server's break escape is),
SSH forwarded to a loopback port, memory reserved for ramoops (pstore), and
``panic=-1`` so a crashed kernel reboots by itself, as a farm's boards do.
"""

from __future__ import annotations

import ctypes
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vmtui.backends.qemu.instance import free_port
from vmtui.guest.build import Guest

RAMOOPS = ("memmap=1M$0xf000000 ramoops.mem_address=0xf000000 ramoops.mem_size=0x100000 "
           "ramoops.record_size=0x20000")
MUX_BREAK = "\x01b"  # QEMU's mux: Ctrl-A b sends a BREAK to the serial port


def _die_with_parent() -> None:
    """In the child: killed when the test process dies, however it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Board:
    proc: subprocess.Popen[str]
    pty: str
    port: int
    link: Path  # a symlink to the pty, named by the test

    def target(self) -> str:
        return f"root@127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def start_board(guest: Guest, link: Path) -> Board:
    """Start one board; ``link`` becomes a symlink to its pty (a stable name)."""
    port = free_port()
    proc = subprocess.Popen(
        ["qemu-system-x86_64", "-M", "pc", "-accel", "tcg", "-m", "256M", "-nodefaults",
         "-display", "none", "-monitor", "none", "-kernel", str(guest.kernel),
         "-initrd", str(guest.initrd), "-append", f"{guest.append} {RAMOOPS}",
         "-chardev", "pty,id=s0,mux=on", "-serial", "chardev:s0",
         "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
         "-device", "virtio-net-pci,netdev=n0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        preexec_fn=_die_with_parent)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "char device redirected to /dev/pts/N (label s0-base)"
    m = re.search(r"(/dev/pts/\d+)", line)
    if m is None:
        proc.kill()
        raise AssertionError(f"QEMU named no pty: {line!r}")
    link.unlink(missing_ok=True)
    link.symlink_to(m[1])
    return Board(proc, m[1], port, link)
