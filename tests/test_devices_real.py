"""Every device kind that can exist here, started in a real (paused) QEMU and found over QMP;
the ones this host cannot provide end in a clear error naming the device."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_disk
from vmtui.backends.config.pool import parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.qemu import QemuInstance
from vmtui.backends.vm.state import InstanceState
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest


def paused_config(guest: Guest, workdir: Path, **vm: Any) -> Any:
    """A QEMU started with -S (vCPUs never run): devices exist, nothing boots."""
    data = {"name": "dev", "count": 1, "workdir": str(workdir), "boot_timeout": 30,
            "vm": {"kernel": str(guest.kernel), "network": False, "qemu_args": ["-S"], **vm}}
    return parse_config(data, file="<test>", base_dir=workdir)


@pytest.fixture
def storage_daemon(tmp_path: Path) -> Iterator[Path]:
    """A real vhost-user-blk backend: qemu-storage-daemon exporting a raw image."""
    image = make_disk(tmp_path / "vu.raw", "raw", "8M")
    sock = tmp_path / "vu.sock"
    proc = subprocess.Popen([
        "qemu-storage-daemon",
        "--blockdev", f"driver=file,node-name=file0,filename={image}",
        "--export", f"type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,"
                    f"addr.path={sock},writable=on"])
    deadline = time.monotonic() + 10
    while not sock.exists():
        assert time.monotonic() < deadline and proc.poll() is None, "storage daemon failed"
        time.sleep(0.05)
    yield sock
    proc.kill()
    proc.wait()


async def start(config: Any) -> tuple[Fleet, QemuInstance]:
    fleet = Fleet(config)
    await asyncio.wait_for(fleet.start(), 60)
    snap = fleet.snapshot()[0]
    assert snap.state is InstanceState.RUNNING, snap.error
    inst = fleet.instance(snap.name)
    assert isinstance(inst, QemuInstance)
    return fleet, inst


async def test_device_kinds_on_pc(guest: Guest, workdir: Path, tmp_path: Path,
                                  storage_daemon: Path) -> None:
    disk = make_disk(tmp_path / "d.qcow2")
    raw = [make_disk(tmp_path / f"r{i}.raw", "raw", "4M") for i in range(3)]
    share = tmp_path / "share"
    share.mkdir()
    pmem = tmp_path / "pmem.img"
    pmem.write_bytes(b"\0" * (16 << 20))
    for end in ("in", "out"):
        os.mkfifo(tmp_path / f"pipe.{end}")
    devices = [
        {"kind": "block", "file": str(disk), "format": "qcow2", "id": "vdisk"},
        {"kind": "block", "file": str(raw[0]), "interface": "scsi", "id": "sdisk",
         "cache": "none", "aio": "native"},
        {"kind": "block", "file": str(raw[1]), "interface": "ide", "id": "idisk", "snapshot": True},
        {"kind": "block", "file": str(raw[2]), "interface": "nvme", "id": "ndisk",
         "snapshot": True},
        {"kind": "net", "id": "unet", "mac": "52:54:00:aa:bb:cc",
         "forwards": [{"host": 18022, "guest": 22}]},
        {"kind": "vhost-user", "socket": str(storage_daemon), "id": "vublk"},
        {"kind": "9p", "path": str(share), "tag": "hostshare", "id": "share"},
        {"kind": "chardev", "backend": "socket", "path": str(tmp_path / "c.sock"), "id": "csock"},
        {"kind": "chardev", "backend": "pty", "frontend": "virtconsole", "id": "cpty"},
        {"kind": "chardev", "backend": "pipe", "path": str(tmp_path / "pipe"),
         "frontend": "virtserialport", "name": "org.vmtui.pipe", "id": "cpipe"},
        {"kind": "chardev", "backend": "file", "path": str(tmp_path / "c.log"),
         "frontend": "none", "id": "cfile"},
        {"kind": "serial", "id": "vser"},
        {"kind": "nvdimm", "file": str(pmem), "size": "16M", "id": "pmem"},
        {"kind": "bridge", "id": "pbr", "chassis": 2},
    ]
    # A tap NIC needs CAP_NET_ADMIN to create (CI runs as root).
    if os.geteuid() == 0:
        devices.append({"kind": "net", "backend": "tap", "id": "tnet"})
    fleet, inst = await start(paused_config(
        guest, workdir, mem="128M", mem_slots=1, mem_max="1G", vga="std", devices=devices,
        qmp_sockets=[str(tmp_path / "extra.qmp")]))
    try:
        domain = inst.domain
        assert (await domain.status()).status == "prelaunch"
        pci = {d.qdev_id: d for d in await domain.pci_devices()}
        for qdev, ids in {
            "vdisk-dev": (0x1AF4, 0x1001), "unet-dev": (0x1AF4, 0x1000),
            "vublk": (0x1AF4, 0x1001),
            "share-dev": (0x1AF4, 0x1009), "vser": (0x1AF4, 0x1003),
            "vmtui-scsi": (0x1AF4, 0x1004), "ndisk-dev": (0x1B36, 0x0010),
            "pbr": (0x1B36, 0x0001),
        }.items():
            assert (pci[qdev].vendor, pci[qdev].device) == ids, qdev
        assert pci["unet-dev"].class_code == 0x0200
        if os.geteuid() == 0:
            assert (pci["tnet-dev"].vendor, pci["tnet-dev"].device) == (0x1AF4, 0x1000)
        blocks = {b.device: b for b in await domain.block_devices()}
        assert blocks["vdisk"].file == str(disk) and blocks["vdisk"].driver == "qcow2"
        assert {"sdisk", "ndisk"} <= set(blocks)
        chardevs = {c["label"]: c["filename"] for c in await domain.execute("query-chardev")}
        assert "unix:" in chardevs["csock"] and chardevs["cpty"].startswith("pty:")
        assert {"cpipe", "cfile", "vmtui-console"} <= set(chardevs)
        memdevs = await domain.execute("query-memory-devices")
        assert memdevs[0]["type"] == "nvdimm" and memdevs[0]["data"]["size"] == 16 << 20
        assert (tmp_path / "extra.qmp").exists()
        shot = await domain.screendump(tmp_path / "screen.png")
        assert shot.read_bytes().startswith(b"\x89PNG")
    finally:
        await fleet.close()


async def test_pcie_root_port_on_q35(guest: Guest, workdir: Path) -> None:
    fleet, inst = await start(paused_config(guest, workdir, machine="q35", devices=[
        {"kind": "bridge", "type": "pcie", "id": "rp0", "chassis": 1}]))
    try:
        pci = {d.qdev_id: d for d in await inst.domain.pci_devices()}
        assert pci["rp0"].class_code == 0x0604  # PCI-to-PCI bridge
    finally:
        await fleet.close()


@pytest.mark.parametrize(("device", "message"), [
    ({"kind": "vfio", "host": "0000:7f:1f.7"},
     "VFIO device 0000:7f:1f.7: not found in /sys/bus/pci/devices"),
    ({"kind": "net", "backend": "tap", "vhost": True},
     "vhost-net is not available: /dev/vhost-net: No such file or directory"),
    ({"kind": "net", "backend": "macvtap", "ifname": "vmtuimvt9"},
     "macvtap vmtuimvt9: no such interface"),
])
async def test_what_this_host_lacks_is_a_clear_error(guest: Guest, workdir: Path,
                                                     device: dict[str, Any],
                                                     message: str) -> None:
    fleet = Fleet(paused_config(guest, workdir, devices=[device]))
    await asyncio.wait_for(fleet.start(), 30)
    snap = fleet.snapshot()[0]
    assert snap.state is InstanceState.FAILED
    assert snap.error == message
    await fleet.close()


@pytest.fixture
def hugepages() -> Iterator[bool]:
    """Hugepages for one small guest: reserved and mounted for the test, put back
    after. Needs root (CI runs as root); without it, the test checks the refusal."""
    if os.geteuid() != 0:
        yield False
        return
    count = Path("/proc/sys/vm/nr_hugepages")
    before = count.read_text()
    mount = Path("/dev/hugepages")
    mounted = mount.is_dir() and os.path.ismount(mount)
    count.write_text(str(int(before) + 48))
    if not mounted:
        mount.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "hugetlbfs", "none", str(mount)], check=True)
    try:
        yield True
    finally:
        if not mounted:
            subprocess.run(["umount", str(mount)], check=False)
        count.write_text(before)


def free_hugepages() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("HugePages_Free:"):
            return int(line.split()[1])
    return 0


async def test_hugepages_back_a_shared_ram_backend(guest: Guest, workdir: Path,
                                                   storage_daemon: Path,
                                                   hugepages: bool) -> None:
    # With a vhost-user device RAM is a backend object; -mem-path would be ignored
    # and RAM would land on memfd. The backend itself must be on hugetlbfs.
    config = paused_config(guest, workdir, mem="64M", hugepages=True, mem_prealloc=True,
                           devices=[{"kind": "vhost-user", "socket": str(storage_daemon)}])
    if not hugepages:
        fleet = Fleet(config)
        await fleet.start()
        assert "hugepages: /dev/hugepages is not mounted" in fleet.snapshot()[0].error
        await fleet.close()
        return
    free = free_hugepages()
    fleet, inst = await start(config)
    try:
        path = await inst.domain.execute("qom-get", {"path": "/objects/vmtui-mem",
                                                      "property": "mem-path"})
        assert path == "/dev/hugepages"
        assert free - free_hugepages() >= 32  # 64 MiB of 2 MiB pages, taken up front
    finally:
        await fleet.close()
