"""The farm loop on a libvirt pool reached over qemu+ssh://: rounds run over SSH,
a real kernel crash is filed in syzkaller's layout, and the VM comes back as a
new transient domain on a new disk overlay, made through the remote host's
storage API."""

from __future__ import annotations

import asyncio
import hashlib
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


def disks(fleet: Fleet) -> list[str]:
    return [t for t in stdout(fleet, "lvfarm-0") if t.startswith("disk-")]


def consoles(fleet: Fleet) -> list[str]:
    return [line[TEXT] for line in fleet.console("lvfarm-0").since(0)[0]
            if line[SOURCE] == "console"]


def notes(fleet: Fleet) -> list[str]:
    return [line[TEXT] for line in fleet.console("lvfarm-0").since(0)[0]
            if line[SOURCE] in ("vmtui", "event")]


def stdout(fleet: Fleet, name: str) -> list[str]:
    return [line[TEXT] for line in fleet.console(name).since(0)[0] if line[SOURCE] == "stdout"]


async def test_the_farm_loop_on_a_remote_libvirt_pool(guest: Guest, libvirtd: Libvirtd,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # A slow host: the crashed domain's end is reported while its destroy call is
    # still under way, so that end and the restart overlap. (A restart once
    # closed the next boot's console here, and a destroy counted as a loss.)
    destroy = LibvirtInstance.destroy

    async def slow_destroy(self: LibvirtInstance) -> None:
        await destroy(self)
        await asyncio.sleep(1.0)

    monkeypatch.setattr(LibvirtInstance, "destroy", slow_destroy)

    xml = tmp_path / "domain.xml"
    xml.write_text(template(guest.kernel, guest.initrd, guest.append, disk=True))
    workdir = tmp_path / "work"
    data = {"name": "lvfarm", "type": "libvirt", "count": 1, "workdir": str(workdir),
            "ssh_user": "root", "ssh_key": str(guest.ssh_key),
            "ssh_host_key": str(guest.host_key), "boot_timeout": 120,
            "vm": {"uri": libvirtd.remote_uri, "template": str(xml),
                   "disk": str(libvirtd.storage())},
            # Round 1 marks the disk and crashes the kernel; round 2 runs on the new
            # domain (a fresh overlay: no mark) and lasts.
            "workload": {"backoff": 0,
                         "run": "echo lvfarm-{round}; echo disk-$(head -c 4 /dev/vda | tr "
                                "'\\0' z); if [ {round} = 1 ]; then printf MARK | dd "
                                "of=/dev/vda conv=notrunc,fsync 2>/dev/null; sleep 0.5; "
                                "echo c > /proc/sysrq-trigger; fi; "
                                "if [ {round} -ge 2 ]; then sleep 120; fi"}}
    fleet = Fleet(parse_config(data, file="<test>", base_dir=tmp_path))
    fleet.watch.after_seconds = 0.5
    rec = fleet.record("lvfarm-0")
    try:
        await fleet.start()
        await eventually(lambda: "lvfarm-1" in stdout(fleet, "lvfarm-0"), 120, "round 1")
        await eventually(lambda: rec.state is InstanceState.CRASHED, 30, "the crash")
        await eventually(lambda: "lvfarm-2" in stdout(fleet, "lvfarm-0"), 120,
                         f"round 2 ({rec.state.value} {rec.error}; {notes(fleet)})")
        assert rec.state is InstanceState.RUNNING
        c = rec.counters
        assert (c.rounds, c.crashes, c.boots) == (1, 1, 2), c
        # A new boot, on a new overlay of the remote pool's base image: round 1's
        # mark on the disk went with the crashed domain.
        assert sum("Linux version" in line for line in consoles(fleet)) == 2
        await eventually(lambda: len(disks(fleet)) == 2, 30, "round 2's disk line")
        assert disks(fleet) == ["disk-zzzz", "disk-zzzz"]
        assert not rec.fault, rec.fault  # the next boot's log was left open
        assert [line for line in notes(fleet) if "lost" in line] == []
        await fleet.watch.settle()
        [crash] = fleet.crashes.all()
        assert crash.title == SYSRQ_CRASH
        assert crash.folder == (workdir / "crashes" /
                                hashlib.sha1(SYSRQ_CRASH.encode()).hexdigest())
        assert "lvfarm-1" in (crash.folder / "log0").read_text()
    finally:
        await asyncio.wait_for(fleet.close(), 60)
    # The crashed domain and the running one are gone, and their overlays too.
    libvirtd.assert_nothing_left()
