"""An incident folder holds its evidence, on a real guest: a real NULL-pointer Oops
(vmtui's crash module), then "Diagnose now" on the crashed VM. The folder is read
back by content: the report's stack in report.txt, the final title in the folder's
name, each SysRq step's own console lines in diagnosis.txt, no empty file, and a
summary.json that lists every file."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest

from tests.conftest import guest_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.monitor.evidence import slug
from vmtui.backends.vm.state import InstanceState
from vmtui.guest.build import Guest
from vmtui.guest.crashmod import CRASH_MODULE

pytestmark = pytest.mark.guest

FIRST = "BUG: kernel NULL pointer dereference, address: ADDR"  # the first line's title
FINAL = "BUG: unable to handle kernel NULL pointer dereference in vmtui_crash_null"


def sections(text: str) -> dict[str, str]:
    """diagnosis.txt split at its ``== step ==`` headers."""
    out: dict[str, str] = {}
    title = ""
    for line in text.splitlines(keepends=True):
        if line.startswith("== ") and line.rstrip().endswith(" =="):
            title = line.strip()[3:-3]
            out[title] = ""
        else:
            out[title] += line
    return out


async def test_a_crash_incident_holds_the_report_and_each_diagnose_step(
        guest: Guest, workdir: Path) -> None:
    fleet = Fleet(guest_config(guest, workdir, name="inc"))
    fleet.watch.after_seconds = 3.0
    name = "inc-0"
    await asyncio.wait_for(fleet.start(), 150)
    writer = None
    try:
        shell = fleet.guest(name)
        loaded = await shell.run(f"insmod {CRASH_MODULE}", timeout=30)
        assert loaded.status == 0, loaded.describe()
        writer = asyncio.ensure_future(shell.run("echo null > /proc/vmtui_crash", timeout=60))
        await fleet.wait_state(name, InstanceState.CRASHED, timeout=60)
        assert fleet.record(name).title == FIRST  # the first line's, until the report is read
        await fleet.watch.settle()
        [crash] = fleet.incidents
        assert crash.complete and crash.title == FINAL
        folder = crash.folder
        assert folder.name.endswith(slug(FINAL)) and slug(FINAL) == \
            "BUG-unable-to-handle-kernel-NULL-pointer-dereference-in-vmtui-crash-null"
        assert not any(p.name.endswith(slug(FIRST)) for p in folder.parent.iterdir())
        report = (folder / "report.txt").read_text()
        assert report.startswith(f"title: {FINAL}\nkind: crash\n")
        assert "type: NULL-POINTER-DEREFERENCE\n" in report
        # The whole report: its first line, the RIP, the call trace down to the syscall.
        for part in ("BUG: kernel NULL pointer dereference, address: 0000000000000000",
                     "RIP: 0010:vmtui_crash_null", "Call Trace:", "vmtui_crash_write",
                     "proc_reg_write", "vfs_write", "ksys_write"):
            assert part in report, f"{part!r} missing from report.txt:\n{report}"
        assert "diagnosis.txt" not in crash.files  # nothing was diagnosed: no empty file

        # "Diagnose now" on the crashed VM (the Oops killed the shell, not the kernel).
        result = await fleet.diagnose(name, "diagnose")
        assert list(result.sections)[:3] == ["sysrq t", "sysrq w", "sysrq l"]
        await fleet.watch.settle()
        diag = fleet.incidents[-1]
        assert diag.kind == "diagnose" and diag.complete
        steps = sections((diag.folder / "diagnosis.txt").read_text())
        print({k: v.count("\n") for k, v in steps.items()})
        # Each step's own answer, cut from the timeline between it and the next.
        assert steps["sysrq t"].startswith("sent via keyboard\n")
        assert "sysrq: Show State" in steps["sysrq t"]
        assert "task:sh" in steps["sysrq t"] or "task:init" in steps["sysrq t"]
        assert "Show Blocked State" not in steps["sysrq t"]
        assert "sysrq: Show Blocked State" in steps["sysrq w"]
        assert "sysrq: Show State" not in steps["sysrq w"]
        assert "sysrq: Show backtrace of all active CPUs" in steps["sysrq l"]
        assert "RIP=" in steps["registers cpu 0"]

        for incident in (crash, diag):
            files = sorted(p.name for p in incident.folder.iterdir())
            assert files == incident.files
            empty = [f for f in files if (incident.folder / f).stat().st_size == 0]
            assert not empty, f"empty files in {incident.folder.name}: {empty}"
            summary = json.loads((incident.folder / "summary.json").read_text())
            assert summary["title"] == incident.title and summary["kind"] == incident.kind
            assert summary["instance"] == name
            assert sorted(summary["files"]) == files
            assert all(summary["files"].values())
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["first_title"] == FIRST
        assert summary["report"]["type"] == "NULL-POINTER-DEREFERENCE"
        assert (folder / "crash").resolve() == fleet.crashes.all()[0].folder.resolve()
    finally:
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        await fleet.close()
