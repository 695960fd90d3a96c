"""The QEMU command line a config yields."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmtui.backends.base import InfraError
from vmtui.backends.qemu import instance
from vmtui.backends.qemu.config import LaunchPlan, QemuConfig, build_argv


def plan(**kw: object) -> LaunchPlan:
    args: dict[str, object] = {"name": "p-0", "qmp_socket": Path("/run/x/p-0.qmp"),
                               "ssh_port": 2222, "accel": "tcg"}
    args.update(kw)
    return LaunchPlan(**args)  # type: ignore[arg-type]


def test_full_argv() -> None:
    cfg = QemuConfig(kernel=Path("/k/vmlinuz"), initrd=Path("/k/initrd"),
                     append="console=ttyS0 quiet", cpus=2, mem=512, qemu_args=["-s"])
    assert build_argv(cfg, plan()) == [
        "qemu-system-x86_64", "-name", "p-0,debug-threads=on", "-M", "pc", "-accel", "tcg",
        "-m", "512", "-smp", "2", "-nodefaults", "-no-user-config", "-display", "none",
        "-chardev", "stdio,id=console0,signal=off", "-serial", "chardev:console0",
        "-qmp", "unix:/run/x/p-0.qmp,server=on,wait=off",
        "-kernel", "/k/vmlinuz", "-append", "console=ttyS0 quiet", "-initrd", "/k/initrd",
        "-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22",
        "-device", "virtio-net-pci,netdev=net0", "-s",
    ]


@pytest.mark.parametrize(("cfg", "present", "absent"), [
    (QemuConfig(kernel=Path("/k")), ["-m", "256"], ["-initrd"]),
    (QemuConfig(kernel=Path("/k"), network=False), [], ["-netdev", "-device"]),
    (QemuConfig(kernel=Path("/k"), machine="microvm"), ["microvm"], ["pc"]),
])
def test_argv_variants(cfg: QemuConfig, present: list[str], absent: list[str]) -> None:
    argv = build_argv(cfg, plan())
    for word in present:
        assert word in argv
    for word in absent:
        assert word not in argv


def test_argv_without_ssh_port_has_no_network() -> None:
    argv = build_argv(QemuConfig(kernel=Path("/k")), plan(ssh_port=None))
    assert "-netdev" not in argv


def test_kvm_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instance, "kvm_usable", lambda: (False, "/dev/kvm does not exist"))
    with pytest.raises(InfraError, match=r"^KVM is not available: /dev/kvm does not exist"):
        instance.resolve_accel("kvm")
    assert instance.resolve_accel("auto") == (
        "tcg", "KVM is not available (/dev/kvm does not exist): using TCG")
    assert instance.resolve_accel("tcg") == ("tcg", "")
