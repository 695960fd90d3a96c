"""The ``vm:`` section of a QEMU pool and the QEMU command line it yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vmtui.schema import spec

# One place for the default guest memory (MiB); the bounds follow a KVM VMM's
# rules: at least 1 MiB, at most 1 TiB.
DEFAULT_MEM_MIB = 256
MIN_MEM_MIB = 1
MAX_MEM_MIB = 1024 * 1024


@dataclass(frozen=True)
class QemuConfig:
    """How to start each QEMU instance of a pool."""

    kernel: Path = spec(must_exist=True, help="kernel image booted with -kernel")
    initrd: Path | None = spec(None, must_exist=True, help="initramfs given with -initrd")
    append: str = spec("console=ttyS0", help="kernel command line")
    qemu: str = spec("qemu-system-x86_64", help="QEMU binary (name on PATH or a path)")
    machine: str = spec("pc", help="machine type (-M)")
    accel: Literal["tcg", "kvm", "auto"] = spec("tcg", help="accelerator")
    cpus: int = spec(1, min=1, max=288, help="virtual CPUs")
    mem: int = spec(DEFAULT_MEM_MIB, min=MIN_MEM_MIB, max=MAX_MEM_MIB, help="memory in MiB")
    network: bool = spec(True, help="user-mode network (restrict=on) with SSH forwarded")
    qemu_args: list[str] = spec(default_factory=list, help="extra arguments, appended as-is")


@dataclass(frozen=True)
class LaunchPlan:
    """Per-instance facts the command line needs beside the config."""

    name: str
    qmp_socket: Path
    ssh_port: int | None
    accel: str
    extra: list[str] = field(default_factory=list)


def build_argv(cfg: QemuConfig, plan: LaunchPlan) -> list[str]:
    """The QEMU argv for one instance. No shell ever sees it."""
    argv = [
        cfg.qemu,
        "-name", f"{plan.name},debug-threads=on",
        "-M", cfg.machine,
        "-accel", plan.accel,
        "-m", str(cfg.mem),
        "-smp", str(cfg.cpus),
        "-nodefaults",
        "-no-user-config",
        "-display", "none",
        # The serial console is QEMU's stdio: stdout is read, stdin is typed
        # into; signal=off keeps a ^C from the guest stream out of QEMU.
        "-chardev", "stdio,id=console0,signal=off",
        "-serial", "chardev:console0",
        "-qmp", f"unix:{plan.qmp_socket},server=on,wait=off",
        "-kernel", str(cfg.kernel),
        "-append", cfg.append,
    ]
    if cfg.initrd is not None:
        argv += ["-initrd", str(cfg.initrd)]
    if cfg.network and plan.ssh_port is not None:
        argv += [
            "-netdev",
            f"user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:{plan.ssh_port}-:22",
            "-device", "virtio-net-pci,netdev=net0",
        ]
    return argv + list(cfg.qemu_args) + plan.extra
