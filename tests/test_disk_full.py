"""A real guest whose workdir fills up: the console is read on, nothing blinds
the watch, the log resumes when space returns, and quitting is prompt."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import guest_config
from tests.helpers import eventually, pid_alive, qemu_pids_in
from vmtui.backends import consoles
from vmtui.backends.base import InstanceState, VMError
from vmtui.backends.fleet import Fleet
from vmtui.backends.ring import SOURCE, TEXT
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``where`` (root only: CI runs as root)."""
    if os.geteuid() != 0:
        pytest.fail("mounting a small tmpfs needs root (CI runs the suite as root)")
    where.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                   check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(path: Path) -> None:
    """Write zeros to ``path`` until the file system is full."""
    with open(path, "wb", buffering=0) as out:
        block = bytes(4096)
        while True:
            try:
                out.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return


def off_lines(text: str, numbers: list[int], expected: list[int]) -> str:
    """Say which numbered lines are missing, doubled or not whole, briefly."""
    missing = sorted(set(expected) - set(numbers))
    doubled = len(numbers) - len(set(numbers))
    broken = [line for line in text.splitlines()
              if re.search(r"n\d+", line) and not re.fullmatch(r"(.*\s)?n\d+", line)]
    return (f"{len(missing)} missing (first {missing[:10]}), {doubled} doubled, "
            f"{len(broken)} lines not ending in their number: {broken[:10]}")


def notes(fleet: Fleet, name: str) -> list[str]:
    return [line[TEXT] for line in fleet.console(name).since(0)[0] if line[SOURCE] == "vmtui"]


async def test_a_full_disk_does_not_stop_the_console(guest: Guest, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "small", "8M") as work:
        config = guest_config(guest, work / "pool")
        fleet = Fleet(config)
        name = "demo-0"
        await asyncio.wait_for(fleet.start(), 150)
        rec = fleet.record(name)
        pids: set[int] = set()
        try:
            assert rec.state is InstanceState.RUNNING, rec.error
            pids = qemu_pids_in(fleet.workdir)
            assert pids
            ops = fleet.guest(name)
            # The guest kernel's own messages (a clocksource warning on a loaded
            # host) would land inside a numbered line on ttyS0: only emergencies.
            await ops.run("echo 1 > /proc/sys/kernel/printk")
            fill(work / "filler")
            # More than the page the log's tail still has room in.
            await ops.run("seq 100001 101000 | sed s/^/n/ > /dev/ttyS0")
            await eventually(lambda: rec.fault != "", 30, "the instance says the log failed")
            assert rec.fault.startswith("console.log cannot be written (No space left")
            assert sum("cannot be written" in n for n in notes(fleet, name)) == 1
            ring = fleet.console(name)
            mark = ring.next_seq
            # The serial console floods while nothing can be written: said once only.
            await ops.run("seq 1 20000 | sed s/^/n/ > /dev/ttyS0")
            await eventually(lambda: any(line[TEXT] == "n20000" for line in ring.tail(50)), 60,
                             "the flood's last line reaches the ring")
            assert not any("cannot be written" in line[TEXT] for line in ring.since(mark)[0])
            # A guest command's own output is merged as before: no OSError.
            result = await ops.run("echo merged-while-full")
            assert result.status == 0
            # Events are followed though events.jsonl cannot take them.
            await fleet.pause(name)
            await fleet.wait_state(name, InstanceState.PAUSED, timeout=10)
            await fleet.resume(name)
            await fleet.wait_state(name, InstanceState.RUNNING, timeout=10)
            # Saving the console says why it cannot.
            with pytest.raises(VMError, match=r"cannot save the console.*No space left"):
                consoles.save_lines(rec, ["a line"])

            (work / "filler").unlink()
            await ops.run("echo space-is-back > /dev/ttyS0")
            log = rec.console_log
            await eventually(lambda: b"space-is-back" in log.read_bytes(), 30,
                             "the log takes lines again")
            assert rec.fault == ""
            text = log.read_text()
            assert "console.log writable again; nothing was lost" in text
            # Every line of the flood is on disk, whole and in order.
            # (the first follows the shell's prompt on the same line)
            expected = list(range(100001, 101001)) + list(range(1, 20001))
            numbers = [int(n) for n in re.findall(r"n(\d+)$", text, re.MULTILINE)]
            whole = numbers == expected  # (not asserted as is: a 21,000-item diff)
            assert whole, off_lines(text, numbers, expected)
            assert rec.state is InstanceState.RUNNING  # no verdict from a blind console

        finally:
            began = time.monotonic()
            await asyncio.wait_for(fleet.close(), 30)
            closed_in = time.monotonic() - began
        assert closed_in < 10
        assert not any(pid_alive(pid) for pid in pids)
