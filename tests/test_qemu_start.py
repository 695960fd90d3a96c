"""Starting paused (gdb can attach before the first instruction), and what this host
lacks (vhost-vsock) as a clear boot failure naming the setting."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.conftest import guest_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.vm.state import InstanceState
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest


async def test_start_paused_waits_for_resume_then_boots(guest: Guest, workdir: Path) -> None:
    fleet = Fleet(guest_config(guest, workdir, name="held", start_paused=True))
    await asyncio.wait_for(fleet.start(), 60)
    try:
        assert fleet.record("held-0").state is InstanceState.PAUSED
        await asyncio.sleep(2)  # nothing runs: not a line on the console
        assert not any("Linux version" in line[2] for line in
                       fleet.record("held-0").ring.since(0)[0])
        await fleet.resume("held-0")
        await fleet.wait_state("held-0", InstanceState.RUNNING, timeout=10)
        out = await fleet.guest("held-0").run("echo booted", timeout=90)
        assert out.stdout == b"booted\n"
    finally:
        await fleet.close()


async def test_vsock_without_vhost_vsock_fails_naming_it(guest: Guest, workdir: Path) -> None:
    fleet = Fleet(guest_config(guest, workdir, name="vs", vsock_cid=3))
    await asyncio.wait_for(fleet.start(), 150)
    try:
        snap = fleet.snapshot()[0]
        if Path("/dev/vhost-vsock").exists():  # a host that has it boots the guest with it
            assert snap.state is InstanceState.RUNNING, snap.error
            return
        assert snap.state is InstanceState.FAILED
        assert "vsock_cid: /dev/vhost-vsock not found" in snap.error
    finally:
        await fleet.close()


async def test_a_multiqueue_tap_nic(guest: Guest, workdir: Path) -> None:
    # Creating a tap needs CAP_NET_ADMIN: CI runs as root; elsewhere the boot says so.
    fleet = Fleet(guest_config(guest, workdir, name="mq", network=False, qemu_args=["-S"],
                               devices=[{"kind": "net", "backend": "tap", "queues": 2,
                                         "vhost": Path("/dev/vhost-net").exists()}]))
    await asyncio.wait_for(fleet.start(), 60)
    try:
        snap = fleet.snapshot()[0]
        if os.geteuid() != 0:
            assert snap.state is InstanceState.FAILED and "CAP_NET_ADMIN" in snap.error
            return
        assert snap.state is InstanceState.RUNNING, snap.error
        argv = (fleet.record("mq-0").workdir / "qemu.cmdline").read_text().split("\0")
        assert any(a.startswith("tap,id=net0,fds=") for a in argv)
        assert any(",mq=on,vectors=6" in a for a in argv)
    finally:
        await fleet.close()
