"""A real guest whose workdir fills up: the console is read on, nothing blinds
the watch, the log resumes when space returns with every line whole and a note
where lines are missing, and quitting is prompt."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import guest_config
from tests.helpers import eventually, pid_alive, qemu_pids_in
from vmtui.backends.console import path as consoles
from vmtui.backends.console.disklog import ConsoleLog
from vmtui.backends.console.ring import SOURCE, TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.state import InstanceState
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


def off_lines(got: list[str], expected: list[str]) -> str:
    """Say where the lines on disk first differ from those expected, briefly."""
    where = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
                 min(len(got), len(expected)))
    near = slice(max(0, where - 2), where + 3)
    return (f"{len(got)} lines where {len(expected)} were expected; first difference at "
            f"{where}: {got[near]} for {expected[near]}")


def notes(fleet: Fleet, name: str) -> list[str]:
    return [line[TEXT] for line in fleet.console(name).since(0)[0] if line[SOURCE] == "vmtui"]


NOTE = re.compile(r"\[vmtui\] console\.log writable again; (?:nothing was lost|"
                  r"(\d+) line\(s\) did not fit in memory meanwhile and are missing here)")


async def test_a_full_disk_does_not_stop_the_console(
        guest: Guest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A backlog the flood outruns: the oldest lines waiting are dropped, the
    # rest of the line the full disk cut among them.
    monkeypatch.setattr(consoles, "ConsoleLog", functools.partial(ConsoleLog, backlog=48 << 10))
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
            said = notes(fleet, name)
            assert sum("cannot be written" in n for n in said) == 1, said
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
                consoles.save_lines(rec.workdir, rec.name, ["a line"])

            (work / "filler").unlink()
            await ops.run("echo space-is-back > /dev/ttyS0")
            log = rec.console_log
            await eventually(lambda: b"space-is-back" in log.read_bytes(), 30,
                             "the log takes lines again")
            assert rec.fault == ""
            text = log.read_text()
            # Every line of the flood is on disk whole and in order, but for the
            # oldest that did not fit in the backlog: one gap, and the note that
            # counts them stands exactly there (the line the full disk cut is
            # completed before it). The first follows the shell's prompt.
            lines = text.splitlines()
            first = next(i for i, line in enumerate(lines) if line.endswith("n100001"))
            got = lines[first + 1:lines.index("n20000") + 1]
            sent = ([f"n{i}" for i in range(100002, 101001)]
                    + ["[vmtui] $ seq 1 20000 | sed s/^/n/ > /dev/ttyS0"]
                    + [f"n{i}" for i in range(1, 20001)])
            at = [i for i, line in enumerate(got) if NOTE.fullmatch(line)]
            assert len(at) == 1, [got[i] for i in at]
            note = NOTE.fullmatch(got[at[0]])
            assert note is not None
            lost = int(note.group(1) or 0)
            assert lost > 1000, "the flood outran the backlog"
            expected = sent[:at[0]] + [got[at[0]]] + sent[at[0] + lost:]
            whole = got == expected  # (not asserted as is: a 20,000-item diff)
            assert whole, off_lines(got, expected)
            assert rec.state is InstanceState.RUNNING  # no verdict from a blind console

        finally:
            began = time.monotonic()
            await asyncio.wait_for(fleet.close(), 30)
            closed_in = time.monotonic() - began
        assert closed_in < 10
        assert not any(pid_alive(pid) for pid in pids)
