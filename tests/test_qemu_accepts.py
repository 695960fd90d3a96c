"""Configs that passed `vmtui check` and then failed in QEMU: now QEMU takes their
argv. Each is started for real, paused with -S (nothing boots), and must still
be running after a moment; an argv QEMU refuses makes it exit at once."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_disk
from vmtui.backends.config.schema import load_section
from vmtui.backends.qemu.config import LaunchPlan, QemuConfig, build_argv
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest


def accepted(guest: Guest, tmp_path: Path, **vm: Any) -> None:
    cfg = load_section(QemuConfig, {"kernel": str(guest.kernel), **vm}, file="<test>",
                       path="vm", base_dir=tmp_path)
    args = build_argv(cfg, LaunchPlan("acc-0", tmp_path / "acc.qmp", 0, "tcg")) + ["-S"]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)
        if proc.poll() is not None:
            pytest.fail(f"QEMU refused the argv: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
    finally:
        proc.kill()
        proc.wait()


def test_a_user_nic_beside_the_ssh_network(guest: Guest, tmp_path: Path) -> None:
    # The SSH network was net0, the id a first user NIC gets: "Duplicate ID".
    accepted(guest, tmp_path, devices=[{"kind": "net"}, {"kind": "net", "id": "net0x"}])


def test_two_pcie_root_ports(guest: Guest, tmp_path: Path) -> None:
    # Both were chassis 1 slot 0.
    accepted(guest, tmp_path, machine="q35",
             devices=[{"kind": "bridge", "type": "pcie"}, {"kind": "bridge", "type": "pcie"}])


def test_scsi_and_virtio_serial_beside_user_ids(guest: Guest, tmp_path: Path) -> None:
    disk = make_disk(tmp_path / "d.raw", "raw", "4M")
    accepted(guest, tmp_path, devices=[
        {"kind": "block", "file": str(disk), "interface": "scsi", "id": "scsi0"},
        {"kind": "chardev", "backend": "pty", "frontend": "virtserialport", "name": "p",
         "id": "vserial0"},
        {"kind": "chardev", "backend": "pty", "id": "console0"}])


def test_memory_slots_with_room(guest: Guest, tmp_path: Path) -> None:
    accepted(guest, tmp_path, mem="128M", mem_slots=1, mem_max="256M")


def test_the_options_test_launchers_use_most(guest: Guest, tmp_path: Path) -> None:
    disk = make_disk(tmp_path / "d.qcow2", "qcow2", "8M")
    other = make_disk(tmp_path / "e.raw", "raw", "4M")
    blob = tmp_path / "blob"
    blob.write_bytes(b"from the host")
    accepted(guest, tmp_path, machine="q35", iommu=True, rng=True, balloon=True,
             no_reboot=True, fw_cfg=[{"name": "opt/vmtui/who", "string": "acc-0"},
                                     {"name": "opt/vmtui/blob", "file": str(blob)}],
             devices=[{"kind": "block", "file": str(disk), "format": "qcow2", "serial": "VD1",
                       "discard": True, "iothread": True},
                      {"kind": "block", "file": str(other), "interface": "scsi",
                       "serial": "SD1", "iothread": True}])
