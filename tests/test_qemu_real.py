"""The QEMU backend on real TCG guests."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import pid_alive, qemu_pids_in, wait_dead
from vmtui.backends.config.pool import parse_config
from vmtui.backends.console.ring import TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.qemu import QemuInstance
from vmtui.backends.vm.errors import BootError
from vmtui.backends.vm.merger import OutputMerger
from vmtui.backends.vm.state import InstanceState
from vmtui.demo import demo_config, demo_dict
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest

BOOT_LINE = "Linux version"


def has_line(fleet: Fleet, name: str, needle: str) -> bool:
    return any(needle in line[TEXT] for line in fleet.console(name).tail(100000))


async def test_pool_of_two_boots_and_closes_clean(guest: Guest, workdir: Path) -> None:
    fleet = Fleet(demo_config(guest, count=2, workdir=workdir))
    start = time.monotonic()
    await asyncio.wait_for(fleet.start(), 150)
    print(f"pool of 2 booted to SSH in {time.monotonic() - start:.1f}s")
    pids = []
    for snap in fleet.snapshot():
        assert snap.state is InstanceState.RUNNING, snap.error
        assert has_line(fleet, snap.name, BOOT_LINE)
        inst = fleet.instance(snap.name)
        assert isinstance(inst, QemuInstance)
        pids.append(inst.pid)
        assert pid_alive(inst.pid)
        assert inst.pid in qemu_pids_in(workdir)
        # QMP socket in a private runtime folder.
        assert inst.qmp_socket.exists()
        assert (inst.qmp_socket.parent.stat().st_mode & 0o777) == 0o700
    await fleet.close()
    assert not any(pid_alive(pid) for pid in pids)
    assert not qemu_pids_in(workdir)
    for snap in fleet.snapshot():
        assert snap.state is InstanceState.STOPPED
        log = (snap.workdir / "console.log").read_bytes()
        assert BOOT_LINE.encode() in log


def config_with(guest: Guest, workdir: Path, **vm: object) -> object:
    data = demo_dict(guest, count=1, workdir=workdir)
    timeout = vm.pop("boot_timeout", None)
    if timeout is not None:
        data["boot_timeout"] = timeout
    data["vm"].update(vm)
    return parse_config(data, file="<test>", base_dir=workdir)


async def test_kernel_that_is_not_a_kernel_fails_with_output(guest: Guest, workdir: Path,
                                                             tmp_path: Path) -> None:
    junk = tmp_path / "not-a-kernel"
    junk.write_bytes(b"\x7fELF this is not a kernel" * 100)
    fleet = Fleet(config_with(guest, workdir, kernel=str(junk)))  # type: ignore[arg-type]
    start = time.monotonic()
    await asyncio.wait_for(fleet.start(), 30)
    assert time.monotonic() - start < 30
    snap = fleet.snapshot()[0]
    assert snap.state is InstanceState.FAILED
    assert "QEMU exited with status 1 during boot" in snap.error
    # QEMU's own complaint reached the console ring and the log on disk.
    assert has_line(fleet, snap.name, "qemu-system-x86_64")
    assert b"qemu-system-x86_64" in (snap.workdir / "console.log").read_bytes()
    await fleet.close()


async def test_boot_timeout_is_a_boot_error_with_console(guest: Guest, workdir: Path) -> None:
    # With no init to run the guest never answers SSH:
    # the boot must end at the timeout with what the console said.
    cfg = config_with(guest, workdir, boot_timeout=4, append="console=ttyS0 rdinit=/nothing")
    fleet = Fleet(cfg)  # type: ignore[arg-type]
    rec = fleet.record("demo-0")
    merger = OutputMerger()
    start = time.monotonic()
    rec.workdir.mkdir(parents=True)
    with pytest.raises(BootError) as info:
        await fleet.pool.create("demo-0", rec.workdir, 0, merger)
    took = time.monotonic() - start
    assert took < 15
    assert "no SSH within 4s" in str(info.value)
    assert b"Linux version" in info.value.output
    await merger.close()
    await fleet.close()
    assert not qemu_pids_in(workdir)


CHILD = """
import asyncio, sys
from pathlib import Path
from vmtui.backends.fleet.fleet import Fleet
from vmtui.demo import demo_config
from vmtui.guest.build import Guest

async def main():
    fleet = Fleet(demo_config(Guest(Path(sys.argv[1])), count=1, workdir=Path(sys.argv[2])))
    task = asyncio.ensure_future(fleet.start())
    while not fleet.instance("demo-0"):
        rec = fleet.record("demo-0")
        if rec.console_log.exists() and rec.console_log.stat().st_size > 0:
            break
        await asyncio.sleep(0.05)
    print("booting", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_qemu_dies_when_vmtui_is_sigkilled(guest: Guest, workdir: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(guest.dir), str(workdir)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "booting"
        pids = qemu_pids_in(workdir)
        assert len(pids) == 1
        child.kill()
        child.wait()
        assert all(wait_dead(pid, 5) for pid in pids)
    finally:
        child.kill()


async def test_kvm_boots_or_fails_clearly_never_hangs(guest: Guest, workdir: Path) -> None:
    # On these machines /dev/kvm opens but nested KVM hangs the guest: the boot
    # must end at the boot timeout with a clear error. Where KVM works, it boots.
    cfg = config_with(guest, workdir, accel="kvm", boot_timeout=10)
    fleet = Fleet(cfg)  # type: ignore[arg-type]
    start = time.monotonic()
    await asyncio.wait_for(fleet.start(), 60)
    took = time.monotonic() - start
    snap = fleet.snapshot()[0]
    await fleet.close()
    print(f"accel kvm: {snap.state.value} after {took:.1f}s: {snap.error[:120]}")
    if snap.state is InstanceState.RUNNING:
        return
    assert snap.state is InstanceState.FAILED
    assert took < 25
    assert ("no SSH within 10s of boot" in snap.error
            or "KVM is not available" in snap.error
            or "QEMU exited with status" in snap.error), snap.error
