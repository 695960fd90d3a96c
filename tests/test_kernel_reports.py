"""Real kernel reports from a real guest: vmtui's crash module (vmtui/guest/files/
crashmod) triggers each on a write to /proc/vmtui_crash, the watch detects it on
the console and titles it from the whole report.

Each expected title is computed by syzkaller's rules (pkg/report/linux.go) from
the report this guest's kernel (Debian 6.1 cloud) prints, and written down here
with the rule that gives it. A fresh guest per trigger: most of them kill the
writing shell or leave the kernel tainted and stalled. Nothing lowers a watchdog
here: the lockup, hang and stall report at the guest's own thresholds (its rc),
as a user who writes the word gets them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import guest_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.vm.state import InstanceState
from vmtui.guest.build import Guest
from vmtui.guest.crashmod import CRASH_MODULE

pytestmark = pytest.mark.guest

TAINT_UNSIGNED_MODULE = 8192  # the kernel's "E" taint: an unsigned module was loaded


@dataclass(frozen=True)
class Trigger:
    word: str
    title: str
    kind: str
    why: str  # the syzkaller rule that gives the title
    cpus: int = 1
    corrupted: bool = False


TRIGGERS = [
    Trigger("warn", "WARNING in vmtui_crash_warn", "WARNING",
            "'WARNING: ... at FILE:LINE FUNC': the function of the RIP line"),
    Trigger("bug", "kernel BUG in vmtui_crash_bug", "BUG",
            "'kernel BUG at FILE': the function of the RIP line"),
    Trigger("null", "BUG: unable to handle kernel NULL pointer dereference in vmtui_crash_null",
            "NULL-POINTER-DEREFERENCE", "the NULL-dereference BUG: the RIP line's function"),
    Trigger("gpf", "general protection fault in vmtui_crash_gpf", "DoS",
            "'general protection fault ...:': the RIP line's function"),
    Trigger("divide", "divide error in vmtui_crash_divide", "DoS",
            "'divide error:': the RIP line's function"),
    # A stall is named by the frame above the first dispatch frame (vfs_write here),
    # so every stall reached through one file's write shares a title.
    Trigger("lockup", "BUG: soft lockup in proc_reg_write", "HANG",
            "the stall extractor over RIP and call trace: the frame above vfs_write"),
    # Scheduler and wait frames (__schedule, schedule, schedule_timeout) are skipped.
    Trigger("hang", "INFO: task hung in vmtui_crash_hang", "HANG",
            "the hung-task extractor: the first frame that is not a wait"),
    # Linux 6.1 prints a self-detected stall as the interrupted task's registers and
    # stack, without the timer interrupt's frames that syzkaller's rule starts from:
    # syzkaller finds no frame and calls the report corrupted (its own corpus files
    # linux/718-720 are this form). vmtui agrees, so the title dedupes with syzbot's.
    Trigger("rcu", "INFO: rcu detected stall in corrupted", "HANG",
            "the stall rule needs apic_timer_interrupt frames, absent here",
            cpus=2, corrupted=True),
    Trigger("overflow", "BUG: stack guard page was hit in proc_reg_write", "UNKNOWN",
            "the guard-page BUG uses the stall extractor: the frame above vfs_write"),
]


async def trigger(guest: Guest, workdir: Path, t: Trigger) -> None:
    fleet = Fleet(guest_config(guest, workdir, name=t.word, cpus=t.cpus))
    fleet.watch.after_seconds = 3.0
    name = f"{t.word}-0"
    await asyncio.wait_for(fleet.start(), 150)
    try:
        shell = fleet.guest(name)
        loaded = await shell.run(f"insmod {CRASH_MODULE} && cat /proc/sys/kernel/tainted",
                                 timeout=30)
        assert loaded.status == 0, loaded.describe()
        assert int(loaded.stdout) & TAINT_UNSIGNED_MODULE  # unsigned, and loaded anyway
        # After insmod a worker frees the module's init memory once a grace period
        # ends; a stall begun before that blocks it, and at hung_task_timeout_secs
        # (10 s) it is reported as a hung task before the stall is (21 s). CI saw it.
        settle = "sleep 3; " if t.word == "rcu" else ""
        writer = asyncio.ensure_future(shell.run(f"{settle}echo {t.word} > /proc/vmtui_crash",
                                                 timeout=60))
        await fleet.wait_state(name, InstanceState.CRASHED, timeout=90)
        await fleet.watch.settle()
        rec = fleet.record(name)
        assert rec.title == t.title, f"{t.word}: {t.why}"
        [incident] = fleet.incidents
        report = (incident.folder / "report.txt").read_text()
        assert f"title: {t.title}\n" in report and f"type: {t.kind}\n" in report
        assert ("corrupted: no\n" in report) != t.corrupted, report
        [crash] = fleet.crashes.all()
        assert crash.folder.name == hashlib.sha1(t.title.encode()).hexdigest()
        assert "vmtui_crash" in (crash.folder / "report0").read_text()
        # The saved console log, read again offline, gives the same title.
        offline = subprocess.run([sys.executable, "-m", "vmtui", "report",
                                  str(rec.console_log)], capture_output=True, text=True)
        assert offline.returncode == 1 and offline.stdout.splitlines()[0] == t.title
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer
    finally:
        await fleet.close()


@pytest.mark.parametrize("t", TRIGGERS, ids=[t.word for t in TRIGGERS])
async def test_a_real_report_gets_syzkallers_title(guest: Guest, workdir: Path,
                                                   t: Trigger) -> None:
    await trigger(guest, workdir, t)
