"""Booting the way real test VMs boot: no -kernel, the firmware boots a disk image.

The disk is the test guest made bootable (vmtui/guest/bootdisk.py: one FAT file
system with syslinux for BIOS and a startup.nsh for OVMF's UEFI shell). A pool
of three shares one image through per-instance qcow2 overlays.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from vmtui.backends.config.pool import Config, parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.vm.state import InstanceState
from vmtui.demo import demo_dict
from vmtui.guest.bootdisk import build_boot_disk
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest

MARK_AT = 40 << 20  # a byte offset past the files, inside the 48 MiB image


def disk_config(guest: Guest, workdir: Path, disk: Path, count: int = 1,
                **vm: Any) -> Config:
    data = demo_dict(guest, count=count, workdir=workdir)
    data["name"] = "disk"
    for key in ("kernel", "initrd", "append"):
        del data["vm"][key]
    data["vm"]["devices"] = [{"kind": "block", "file": str(disk), "overlay": True}]
    data["vm"].update(vm)
    return parse_config(data, file="<test>", base_dir=workdir)


async def boot(config: Config) -> tuple[Fleet, float]:
    fleet = Fleet(config)
    start = time.monotonic()
    await asyncio.wait_for(fleet.start(), 200)
    took = time.monotonic() - start
    for snap in fleet.snapshot():
        assert snap.state is InstanceState.RUNNING, snap.error
    return fleet, took


async def test_bios_boots_the_disk_to_ssh(guest: Guest, workdir: Path, tmp_path: Path) -> None:
    disk = build_boot_disk(guest, tmp_path / "boot.img")
    fleet, took = await boot(disk_config(guest, workdir, disk))
    try:
        print(f"BIOS disk boot to SSH: {took:.1f}s")
        argv = (fleet.record("disk-0").workdir / "qemu.cmdline").read_text().split("\0")
        assert "-kernel" not in argv
        assert any("bootindex=0" in a for a in argv)
        out = await fleet.guest("disk-0").run("cat /proc/cmdline", timeout=30)
        assert b"rdinit=/init" in out.stdout  # syslinux.cfg's APPEND reached the kernel
    finally:
        await fleet.close()


async def test_uefi_boots_the_disk_to_ssh(guest: Guest, workdir: Path, tmp_path: Path) -> None:
    disk = build_boot_disk(guest, tmp_path / "boot.img")
    fleet, took = await boot(disk_config(guest, workdir, disk, firmware="uefi"))
    try:
        print(f"UEFI disk boot to SSH: {took:.1f}s")
        out = await fleet.guest("disk-0").run("ls /sys/firmware/efi", timeout=30)
        assert out.status == 0 and b"efivars" in out.stdout  # booted by UEFI, not BIOS
        assert (fleet.record("disk-0").workdir / "uefi-vars.fd").stat().st_size > 0
    finally:
        await fleet.close()


async def test_a_pool_of_three_shares_one_image(guest: Guest, workdir: Path,
                                                tmp_path: Path) -> None:
    disk = build_boot_disk(guest, tmp_path / "boot.img")
    pristine = disk.read_bytes()
    fleet, took = await boot(disk_config(guest, workdir, disk, count=3))
    try:
        print(f"3 instances from one image to SSH: {took:.1f}s")
        names = [s.name for s in fleet.snapshot()]
        for name in names:  # each writes its name into its own disk
            wrote = await fleet.guest(name).run(
                f"printf {name} | dd of=/dev/vda bs=1 seek={MARK_AT} conv=notrunc && sync",
                timeout=30)
            assert wrote.status == 0, wrote.describe()
        for name in names:  # and reads back its own, not a neighbour's
            read = await fleet.guest(name).run(
                f"dd if=/dev/vda bs=1 skip={MARK_AT} count={len(name)} 2>/dev/null", timeout=30)
            assert read.stdout == name.encode()
    finally:
        await fleet.close()
    assert disk.read_bytes() == pristine  # the shared image was never written
