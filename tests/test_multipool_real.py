"""One vmtui, two real pools: a local QEMU pool and a libvirt pool reached over
qemu+ssh://. Crash detection, inspectors and lifecycle work on both, crashes of
both land in one Crashes list, and a libvirtd restart touches only its own pool."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import guest_config
from tests.helpers import eventually
from tests.libvirtd import Libvirtd, template
from vmtui.app import VmtuiApp
from vmtui.backends.config.pool import parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.fleets import Fleets
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.vm.state import InstanceState
from vmtui.guest.build import Guest
from vmtui.widgets.pool_table import PoolTable

pytestmark = pytest.mark.guest

SYSRQ_CRASH = "kernel panic: sysrq triggered crash"


def pools(guest: Guest, daemon: Libvirtd, tmp: Path) -> Fleets:
    local = Fleet(guest_config(guest, tmp / "local", name="local"))
    xml = tmp / "domain.xml"
    xml.write_text(template(guest.kernel, guest.initrd, guest.append))
    data = {"name": "lv", "type": "libvirt", "count": 1, "workdir": str(tmp / "lv"),
            "ssh_user": "root", "ssh_key": str(guest.ssh_key),
            "ssh_host_key": str(guest.host_key), "boot_timeout": 120,
            "vm": {"uri": daemon.remote_uri, "template": str(xml)}}
    far = Fleet(parse_config(data, file="<test>", base_dir=tmp))
    for fleet in (local, far):
        fleet.watch.after_seconds = 0.5
    return Fleets([local, far])


def states(app: VmtuiApp) -> dict[str, InstanceState]:
    return {s.name: s.state for s in app.bridge.snapshot()}


async def test_a_qemu_pool_and_a_libvirt_pool_over_ssh_in_one_vmtui(
        guest: Guest, libvirtd: Libvirtd, tmp_path: Path) -> None:
    fleets = pools(guest, libvirtd, tmp_path)
    app = VmtuiApp(LocalControl(fleets))
    running = {"local-0": InstanceState.RUNNING, "lv-0": InstanceState.RUNNING}
    async with app.run_test(size=(160, 48)) as pilot:
        await eventually(lambda: states(app) == running, 180, "both pools running")
        await pilot.pause(0.6)  # a pool poll
        table = app.screen.query_one(PoolTable)
        rows = {str(table.get_row(name)[1]) for name in ("local-0", "lv-0")}
        assert rows == {"local", "lv@127.0.0.1"}
        # Inspectors on both: QMP for QEMU, libvirt's monitor pass-through for lv.
        for name in running:
            cpus = await app.bridge.inspect(name, "cpus")
            assert cpus.rows and all(row[1].isdigit() for row in cpus.rows), (name, cpus)
        # A crash in each pool, one title in the Crashes list with both instances.
        for name in running:
            await fleets.diagnose(name, "sysrq-c")
        await eventually(lambda: set(states(app).values()) == {InstanceState.CRASHED}, 60,
                         "both crashed")
        await eventually(lambda: [(c.title, sorted(c.instances)) for c in app.bridge.crashes()]
                         == [(SYSRQ_CRASH, ["local-0", "lv-0"])], 30, "one crash title")
        # Lifecycle on both: restart after the crash.
        await asyncio.gather(*(fleets.restart(name) for name in running))
        assert states(app) == running, [s.error for s in app.bridge.snapshot()]
        # libvirtd restarts: only its pool's instance is lost, and comes back.
        boot_id: Any = (await fleets.guest("lv-0").run(
            "cat /proc/sys/kernel/random/boot_id", timeout=30)).stdout
        await asyncio.to_thread(libvirtd.kill_daemon)
        await fleets.wait_state("lv-0", InstanceState.LOST, timeout=30)
        assert fleets.record("local-0").state is InstanceState.RUNNING
        await asyncio.to_thread(libvirtd.start)
        await fleets.wait_state("lv-0", InstanceState.RUNNING, timeout=60)
        assert (await fleets.guest("lv-0").run(
            "cat /proc/sys/kernel/random/boot_id", timeout=30)).stdout == boot_id
        await app.action_quit()
    # Nothing left: the QEMU pool's process and the domain vmtui created.
    left = subprocess.run(["virsh", "-q", "-c", libvirtd.uri, "list", "--all", "--name"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert left == []
    assert all(rec.instance is None for rec in fleets.records.values())
