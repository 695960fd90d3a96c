"""Internal VM snapshots on a real guest: a file written, a snapshot taken, the file
deleted, the snapshot restored: the file is back. Restore and cold-boot times printed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.conftest import guest_config, make_disk
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.vm.errors import VMError
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest


async def test_a_restored_snapshot_brings_a_deleted_file_back(guest: Guest, workdir: Path,
                                                             tmp_path: Path) -> None:
    disk = make_disk(tmp_path / "state.qcow2", "qcow2", "64M")  # holds the VM state
    fleet = Fleet(guest_config(guest, workdir, name="snap", devices=[
        {"kind": "block", "file": str(disk), "format": "qcow2"}]))
    start = time.monotonic()
    await asyncio.wait_for(fleet.start(), 150)
    cold = time.monotonic() - start
    try:
        shell, snaps = fleet.guest("snap-0"), fleet.vm_snapshots("snap-0")
        assert (await shell.run("echo marker-1 > /root/marker", timeout=30)).status == 0
        await snaps.take_snapshot("before-rm")
        [taken] = await snaps.snapshots()
        assert taken.tag == "before-rm" and taken.vm_state_size > 0
        assert (await shell.run("rm /root/marker", timeout=30)).status == 0
        start = time.monotonic()
        await snaps.restore_snapshot("before-rm")
        restored = time.monotonic() - start
        back = await shell.run("cat /root/marker", timeout=60)  # a new SSH session
        to_ssh = time.monotonic() - start
        assert back.stdout == b"marker-1\n"
        print(f"cold boot to SSH {cold:.1f}s; restore {restored:.2f}s, "
              f"restore to an SSH answer {to_ssh:.2f}s")
        with pytest.raises(VMError, match="no snapshot 'nope'"):
            await snaps.restore_snapshot("nope")
        await snaps.delete_snapshot("before-rm")
        assert await snaps.snapshots() == []
    finally:
        await fleet.close()


async def test_a_vm_without_a_qcow2_disk_says_so(shared_fleet: Fleet) -> None:
    with pytest.raises(VMError, match="snapshots need a writable qcow2 disk"):
        await shared_fleet.vm_snapshots("shared-0").take_snapshot("x")
    with pytest.raises(VMError, match="snapshot tag 'a b'"):
        await shared_fleet.vm_snapshots("shared-0").take_snapshot("a b")
