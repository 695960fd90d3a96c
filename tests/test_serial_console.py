"""`console: {serial: ...}`: a serial device read as a console source. The "board"
is a real test guest that this test starts itself with its serial port on a pty
(`-serial pty`), as a machine vmtui does not start."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmtui.backends.config.pool import parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.vm.state import InstanceState
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest


@pytest.fixture
def board(guest: Guest) -> Iterator[str]:
    """A guest on a pty serial port; yields the pty's path."""
    proc = subprocess.Popen(
        ["qemu-system-x86_64", "-M", "pc", "-accel", "tcg", "-m", "256M", "-nodefaults",
         "-display", "none", "-monitor", "none", "-kernel", str(guest.kernel),
         "-initrd", str(guest.initrd), "-append", guest.append, "-serial", "pty"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()  # "char device redirected to /dev/pts/N (label serial0)"
        m = re.search(r"(/dev/pts/\d+)", line)
        assert m, line
        yield m[1]
    finally:
        proc.kill()
        proc.wait()


def type_on(pty: str, data: bytes) -> None:
    fd = os.open(pty, os.O_WRONLY | os.O_NOCTTY)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def serial_lines(fleet: Fleet) -> list[str]:
    return [t for _, src, t, _ in fleet.record("brd-0").ring.since(0)[0] if src == "serial"]


async def test_a_board_on_a_serial_line_is_watched(board: str, tmp_path: Path) -> None:
    config = parse_config({"name": "brd", "type": "scripted", "count": 1,
                           "workdir": str(tmp_path), "vm": {"lines": ["attached"]},
                           "console": {"serial": board}}, file="<test>", base_dir=tmp_path)
    fleet = Fleet(config)
    fleet.watch.after_seconds = 1.0
    await fleet.start()
    try:
        # Type on the board's serial shell until its answer comes back over the line
        # (what it printed before vmtui opened the pty is gone: QEMU drops it).
        deadline = asyncio.get_running_loop().time() + 90
        while not any("serial-42" in t for t in serial_lines(fleet)):
            assert asyncio.get_running_loop().time() < deadline, serial_lines(fleet)[-5:]
            type_on(board, b"echo serial-$((6*7))\n")
            await asyncio.sleep(1)
        type_on(board, b"echo c > /proc/sysrq-trigger\n")
        await fleet.wait_state("brd-0", InstanceState.CRASHED, timeout=60)
        await fleet.watch.settle()
        assert fleet.record("brd-0").title == "kernel panic: sysrq triggered crash"
    finally:
        await fleet.close()
    assert "sysrq triggered crash" in fleet.record("brd-0").console_log.read_text(
        errors="replace")
