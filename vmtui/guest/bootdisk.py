"""A bootable disk image of the test guest, for firmware boots (no -kernel).

One FAT file system, no partition table and no loop mount: mkfs.fat makes it,
syslinux installs its boot sector (BIOS), mtools copies the kernel, the
initramfs, syslinux.cfg, and startup.nsh, which OVMF's built-in UEFI shell
runs when no other boot entry is found: it starts the kernel as an EFI
application (the EFI stub), which loads the initramfs itself (UEFI).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from vmtui.guest.build import Guest, GuestBuildError

TOOLS = {"mkfs.fat": "dosfstools", "syslinux": "syslinux", "mcopy": "mtools"}


def _tool(name: str) -> str:
    found = shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if found is None:
        raise GuestBuildError(f"{name} not found: install the {TOOLS[name]} package "
                              "(the boot disk needs it)")
    return found


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise GuestBuildError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


def build_boot_disk(guest: Guest, out: Path, size_mib: int = 48) -> Path:
    """Write a raw disk image at ``out`` that boots ``guest`` by BIOS and by UEFI."""
    tools = {name: _tool(name) for name in TOOLS}
    out.unlink(missing_ok=True)
    _run(tools["mkfs.fat"], "-C", "-n", "VMTUI", str(out), str(size_mib * 1024))
    _run(tools["syslinux"], "--install", str(out))
    work = out.with_name(out.name + ".files")
    work.mkdir(exist_ok=True)
    try:
        (work / "syslinux.cfg").write_text(
            f"DEFAULT vmtui\nLABEL vmtui\n  KERNEL vmlinuz\n  INITRD initrd\n"
            f"  APPEND {guest.append}\n")
        (work / "startup.nsh").write_text(f"fs0:\\vmlinuz initrd=\\initrd {guest.append}\n")
        for source, name in ((guest.kernel, "vmlinuz"), (guest.initrd, "initrd"),
                             (work / "syslinux.cfg", "syslinux.cfg"),
                             (work / "startup.nsh", "startup.nsh")):
            _run(tools["mcopy"], "-i", str(out), str(source), f"::{name}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
