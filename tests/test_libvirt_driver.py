"""type: libvirt on libvirt's own test driver (test:///default, in memory, no
QEMU): adopting an existing domain, what a driver without a console or a QEMU
monitor cannot give said plainly, lifecycle through the API, config errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from vmtui.backends.config.pool import ConfigError, parse_config
from vmtui.backends.console.ring import SOURCE, TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.libvirt import LibvirtInstance
from vmtui.backends.qemu.domain import DomainError
from vmtui.backends.vm.state import InstanceState


def fleet_of(tmp: Path, count: int = 1, **vm: Any) -> Fleet:
    data = {"name": "t", "type": "libvirt", "count": count, "workdir": str(tmp / "w"),
            "vm": {"uri": "test:///default", **vm}}
    return Fleet(parse_config(data, file="<t>", base_dir=tmp))


async def test_an_existing_domain_on_a_driver_without_console_or_monitor(
        tmp_path: Path) -> None:
    import libvirt

    fleet = fleet_of(tmp_path, domains="te*")
    await fleet.start()
    try:
        rec = fleet.record("t-0")
        assert rec.state is InstanceState.RUNNING, rec.error
        inst = fleet.instance("t-0")
        assert isinstance(inst, LibvirtInstance)
        assert ("Domain", "test (existing)") in inst.facts()
        notes = [line[TEXT] for line in fleet.console("t-0").since(0)[0]
                 if line[SOURCE] == "vmtui"]
        assert any("no console: not available on this driver" in n for n in notes), notes
        with pytest.raises(DomainError, match="not available on this libvirt driver"):
            await inst.inspector.status()
        await fleet.pause("t-0")
        await fleet.wait_state("t-0", InstanceState.PAUSED, timeout=5)
        await fleet.resume("t-0")
        await fleet.wait_state("t-0", InstanceState.RUNNING, timeout=5)
        # A kill asked for powers the adopted domain off (it stays defined), a
        # start starts it again.
        await fleet.kill("t-0")
        conn = libvirt.open("test:///default")
        try:
            assert not conn.lookupByName("test").isActive()
        finally:
            conn.close()
        await fleet.boot("t-0")
        assert fleet.record("t-0").state is InstanceState.RUNNING, fleet.record("t-0").error
    finally:
        await fleet.close()
    conn = libvirt.open("test:///default")
    try:  # not vmtui's to destroy
        assert conn.lookupByName("test").isActive()
    finally:
        conn.close()


async def test_a_pattern_that_matches_too_few_domains(tmp_path: Path) -> None:
    fleet = fleet_of(tmp_path, count=2, domains="test")
    await fleet.start()
    try:
        assert fleet.record("t-0").state is InstanceState.RUNNING
        rec = fleet.record("t-1")
        assert rec.state is InstanceState.FAILED
        assert "domains: 'test' matches 1 domain(s) on test:///default, not enough for " \
               "instance 1" in rec.error
    finally:
        await fleet.close()


@pytest.mark.parametrize(("vm", "message"), [
    ({}, "template: give the domain XML file"),
    ({"domains": "a*", "template": "domain.xml"}, "give either domains"),
    ({"uri": "not a uri", "domains": "a"}, "uri: 'not a uri' is not a libvirt URI"),
    ({"domains": " "}, "domains: an empty pattern matches no domain"),
    ({"template": "plain.xml"}, "has no {name}"),
    ({"template": "domain.xml", "disk": "/img.qcow2"}, "the template has no {disk}"),
    ({"template": "disk.xml"}, "uses {disk}: give disk"),
    ({"template": "disk.xml", "disk": "img.qcow2"}, "must be an absolute path"),
])
def test_bad_libvirt_config(tmp_path: Path, vm: dict[str, str], message: str) -> None:
    (tmp_path / "domain.xml").write_text("<domain><name>{name}</name></domain>")
    (tmp_path / "plain.xml").write_text("<domain><name>x</name></domain>")
    (tmp_path / "disk.xml").write_text("<domain><name>{name}</name>{disk}</domain>")
    data = {"name": "t", "type": "libvirt", "count": 1, "workdir": str(tmp_path / "w"),
            "vm": {"uri": "test:///default", **vm}}
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("(", r"\(")):
        parse_config(data, file="<t>", base_dir=tmp_path)


async def test_an_adopted_domain_without_metadata_is_reached_at_its_address(
        tmp_path: Path) -> None:
    # No vmtui metadata: the address comes from libvirt (the test driver's lease).
    key = tmp_path / "id_ed25519"
    key.write_text("not a key: never used, the address does not answer\n")
    data = {"name": "t", "type": "libvirt", "count": 1, "workdir": str(tmp_path / "w"),
            "ssh_key": str(key), "ssh_host_key_check": False, "boot_timeout": 1,
            "vm": {"uri": "test:///default", "domains": "test"}}
    fleet = Fleet(parse_config(data, file="<t>", base_dir=tmp_path))
    await fleet.start()
    try:
        rec = fleet.record("t-0")
        assert rec.state is InstanceState.FAILED
        # (the test driver hands out 192.168.122.N, N changing as the domain restarts)
        assert re.search(r"no SSH at 192\.168\.122\.\d+:22 within 1s", rec.error), rec.error
    finally:
        await fleet.close()
