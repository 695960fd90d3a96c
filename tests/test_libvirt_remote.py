"""type: libvirt through qemu+ssh:// (an sshd on loopback in front of the fixture's
libvirtd): a domain defined outside vmtui picked up by pattern, watched, driven,
surviving a libvirtd restart without a reboot, and left running when vmtui quits."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import eventually
from tests.libvirtd import Libvirtd, template
from vmtui.backends.config.pool import parse_config
from vmtui.backends.console.ring import SOURCE, TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.libvirt.pool import render
from vmtui.backends.qemu.instance import free_port
from vmtui.backends.ssh.target import SSHTarget, wait_for_ssh
from vmtui.backends.vm.state import InstanceState
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest

BOOT_ID = "cat /proc/sys/kernel/random/boot_id"


@pytest.fixture
def outside_domain(guest: Guest, libvirtd: Libvirtd) -> Iterator[tuple[Any, int]]:
    """A persistent domain 'ext-0' defined and started by someone else, with its
    SSH address in vmtui's metadata."""
    import libvirt

    port = free_port()
    meta = (f"\n  <metadata><vmtui:ssh xmlns:vmtui='urn:vmtui:1'>127.0.0.1:{port}"
            "</vmtui:ssh></metadata>")
    xml = render(template(guest.kernel, guest.initrd, guest.append, meta), "ext-0", 0,
                 "outside", port)
    conn = libvirt.open(libvirtd.uri)
    dom = conn.defineXML(xml)
    dom.create()
    conn.close()
    try:
        yield dom, port
    finally:
        libvirtd.destroy_all()


def lines(fleet: Fleet, name: str, source: str) -> list[str]:
    return [line[TEXT] for line in fleet.console(name).since(0)[0] if line[SOURCE] == source]


async def test_an_existing_domain_over_ssh_survives_a_libvirtd_restart(
        guest: Guest, libvirtd: Libvirtd, outside_domain: tuple[Any, int],
        tmp_path: Path) -> None:
    _, port = outside_domain
    await wait_for_ssh(SSHTarget("127.0.0.1", port, "root", guest.ssh_key, guest.host_key,
                                 True), 120)
    data = {"name": "far", "type": "libvirt", "count": 1, "workdir": str(tmp_path / "work"),
            "ssh_user": "root", "ssh_key": str(guest.ssh_key),
            "ssh_host_key": str(guest.host_key), "boot_timeout": 60,
            "vm": {"uri": libvirtd.remote_uri, "domains": "ext-*"}}
    fleet = Fleet(parse_config(data, file="<test>", base_dir=tmp_path))
    fleet.watch.after_seconds = 0.5
    try:
        await asyncio.wait_for(fleet.start(), 90)
        rec = fleet.record("far-0")
        assert rec.state is InstanceState.RUNNING, rec.error
        assert ("Domain", "ext-0 (existing)") in fleet.instance("far-0").facts()  # type: ignore[union-attr]
        assert any("attached to the running domain ext-0" in t
                   for t in lines(fleet, "far-0", "vmtui"))
        boot_id = (await fleet.guest("far-0").run(BOOT_ID, timeout=30)).stdout
        # The console stream through the remote connection, both ways.
        mark = fleet.console("far-0").next_seq
        await fleet.write_console("far-0", b"echo remote-$((6*7))\n")
        await eventually(lambda: any("remote-42" in line[TEXT] for line in
                                     fleet.console("far-0").since(mark)[0]), 20, "typed")
        inspector = fleet.instance("far-0").inspector  # type: ignore[union-attr]
        assert (await inspector.status()).running
        # libvirtd restarts: lost with the reason, then back without a reboot.
        await asyncio.to_thread(libvirtd.kill_daemon)
        await fleet.wait_state("far-0", InstanceState.LOST, timeout=30)
        assert "libvirtd stopped" in rec.error or "connection" in rec.error, rec.error
        await asyncio.to_thread(libvirtd.start)
        await fleet.wait_state("far-0", InstanceState.RUNNING, timeout=60)
        assert (await fleet.guest("far-0").run(BOOT_ID, timeout=30)).stdout == boot_id
        mark = fleet.console("far-0").next_seq
        await fleet.write_console("far-0", b"echo again-$((6*7))\n")
        await eventually(lambda: any("again-42" in line[TEXT] for line in
                                     fleet.console("far-0").since(mark)[0]), 20,
                         "the console re-attached")
        assert any("host back" in t for t in lines(fleet, "far-0", "vmtui"))
        # The SSH link to the host drops (its far end, the netcat sshd runs, dies):
        # lost again, back again through a new SSH session, still not rebooted.
        killed = subprocess.run(["pkill", "-f", f"nc .*-U {libvirtd.socket}"], check=False)
        assert killed.returncode == 0, "no netcat behind the qemu+ssh connection"
        await fleet.wait_state("far-0", InstanceState.LOST, timeout=30)
        await fleet.wait_state("far-0", InstanceState.RUNNING, timeout=60)
        assert (await fleet.guest("far-0").run(BOOT_ID, timeout=30)).stdout == boot_id
        # Lifecycle on a domain vmtui did not create: pause and resume.
        await fleet.pause("far-0")
        await fleet.wait_state("far-0", InstanceState.PAUSED, timeout=15)
        await fleet.resume("far-0")
        await fleet.wait_state("far-0", InstanceState.RUNNING, timeout=15)
        assert not [i for i in fleet.incidents if i.kind == "verdict"]
    finally:
        await fleet.close()
    # vmtui leaves what it did not create as it found it.
    import libvirt

    conn = libvirt.open(libvirtd.uri)
    try:
        assert conn.lookupByName("ext-0").isActive()
    finally:
        conn.close()
