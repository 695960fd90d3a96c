"""type: libvirt on a real libvirtd (the fixture's own): transient domains from a
template, console, SSH, lifecycle, inspectors and a crash through libvirt."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.helpers import eventually
from tests.libvirtd import Libvirtd, template
from vmtui.backends.config.pool import parse_config
from vmtui.backends.console.ring import SOURCE, TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.libvirt import LibvirtInstance
from vmtui.backends.vm.state import InstanceState
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest

SYSRQ_CRASH = "kernel panic: sysrq triggered crash"


def libvirt_fleet(guest: Guest, daemon: Libvirtd, tmp: Path, count: int = 2) -> Fleet:
    xml = tmp / "domain.xml"
    xml.write_text(template(guest.kernel, guest.initrd, guest.append, disk=True))
    data = {"name": "lv", "type": "libvirt", "count": count, "workdir": str(tmp / "work"),
            "ssh_user": "root", "ssh_key": str(guest.ssh_key),
            "ssh_host_key": str(guest.host_key), "boot_timeout": 120,
            "vm": {"uri": daemon.uri, "template": str(xml), "disk": str(daemon.storage())}}
    fleet = Fleet(parse_config(data, file="<test>", base_dir=tmp))
    fleet.watch.after_seconds = 0.5
    return fleet


def lines(fleet: Fleet, name: str, source: str = "console") -> list[str]:
    return [line[TEXT] for line in fleet.console(name).since(0)[0] if line[SOURCE] == source]


async def test_a_template_pool_on_libvirt(guest: Guest, libvirtd: Libvirtd,
                                          tmp_path: Path) -> None:
    fleet = libvirt_fleet(guest, libvirtd, tmp_path)
    try:
        await asyncio.wait_for(fleet.start(), 180)
        assert [s.state for s in fleet.snapshot()] == [InstanceState.RUNNING] * 2, \
            [s.error for s in fleet.snapshot()]
        # The console from the first line (the domain starts paused until attached).
        assert any("Linux version" in t for t in lines(fleet, "lv-0"))
        assert any("vmtui-guest: up" in t for t in lines(fleet, "lv-1"))
        out = await fleet.guest("lv-0").run("echo hello-from-libvirt", timeout=30)
        assert out.stdout == b"hello-from-libvirt\n"
        inst = fleet.instance("lv-0")
        assert isinstance(inst, LibvirtInstance)
        # Inspectors through libvirt's QEMU monitor pass-through.
        assert (await inst.inspector.status()).running
        assert len(await inst.inspector.cpus()) == 2
        assert any(d.vendor == 0x1af4 for d in await inst.inspector.pci_devices())
        assert ("Domain", "lv-0") in inst.facts()
        # Each domain on its own overlay of the base image.
        overlays = {dict(fleet.instance(n).facts())["Disk overlay"]  # type: ignore[union-attr]
                    for n in ("lv-0", "lv-1")}
        assert len(overlays) == 2 and all(o.endswith(".qcow2") for o in overlays)
        size = await fleet.guest("lv-1").run("cat /sys/block/vda/size", timeout=30)
        assert size.stdout == b"32768\n"  # the 16 MiB base, through the overlay
        # Typing goes into the console stream.
        mark = fleet.console("lv-0").next_seq
        await fleet.write_console("lv-0", b"echo typed-$((6*7))\n")
        await eventually(lambda: any("typed-42" in line[TEXT] for line in
                                     fleet.console("lv-0").since(mark)[0]), 20, "typed")
        # Lifecycle through the API, states from libvirt's events.
        await fleet.pause("lv-1")
        await fleet.wait_state("lv-1", InstanceState.PAUSED, timeout=10)
        await fleet.resume("lv-1")
        await fleet.wait_state("lv-1", InstanceState.RUNNING, timeout=10)
        # A crash: SysRq c by the emulated keyboard, seen on the console and as
        # libvirt's crash event (on_crash: preserve keeps the domain).
        await fleet.diagnose("lv-1", "sysrq-c")
        await fleet.wait_state("lv-1", InstanceState.CRASHED, timeout=30)
        await eventually(lambda: fleet.record("lv-1").title == SYSRQ_CRASH, 20, "the title")
        events = lines(fleet, "lv-1", "event")
        assert "STOP" in events and "RESUME" in events
        await eventually(lambda: "GUEST_PANICKED" in lines(fleet, "lv-1", "event"), 10,
                         "libvirt's crash event")
        await fleet.watch.settle()
        assert [i.title for i in fleet.incidents if i.kind == "crash"] == [SYSRQ_CRASH]
        # The registers of a crashed guest, through the monitor.
        regs = await inst.registers()
        assert "RIP=" in regs[0]
    finally:
        await fleet.close()
    # vmtui destroys the domains it created, and their overlays: none is left.
    libvirtd.assert_nothing_left()
