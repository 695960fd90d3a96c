"""The test guest builder: reuse, clear errors, a valid initramfs."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import pytest

from vmtui.guest import build as guest_build
from vmtui.guest.build import Guest, GuestBuildError, build, check_tools
from vmtui.guest.cpio import CpioWriter


def test_guest_is_reused_while_unchanged(guest: Guest) -> None:
    before = guest.initrd.stat().st_mtime_ns
    messages: list[str] = []
    again = build(guest, log=messages.append)
    assert again.initrd.stat().st_mtime_ns == before
    assert messages == [f"guest is up to date in {guest.dir}"]


def test_guest_has_what_later_work_needs(guest: Guest) -> None:
    listing = subprocess.run(["cpio", "-it", "--quiet"], input=gzip.decompress(
        guest.initrd.read_bytes()), capture_output=True, check=True).stdout.decode().split()
    for path in ("init", "bin/busybox", "bin/sh", "usr/sbin/dropbear", "usr/lib/sftp-server",
                 "etc/rc", "etc/inittab", "root/.ssh/authorized_keys",
                 "etc/dropbear/dropbear_ed25519_host_key", "lib/modules/virtio_net.ko"):
        assert path in listing
    assert "echo 1 > /proc/sys/kernel/sysrq" in (Path(guest_build.__file__).parent
                                                 / "files" / "rc").read_text()
    assert "ttyS0" in guest.append
    info = guest.info()
    assert info["kernel"].startswith("vmlinuz-")
    assert "virtio_net" in info["modules"].split()
    assert guest.host_key.read_text().startswith("ssh-ed25519 ")


def test_guest_cache_is_private(guest: Guest) -> None:
    # The initramfs carries the guest's SSH host private key, the one vmtui pins.
    assert (guest.dir.stat().st_mode & 0o777) == 0o700
    files = {p.name: p.stat().st_mode & 0o777 for p in guest.dir.iterdir() if p.is_file()}
    assert {"initramfs.cpio.gz", "id_ed25519", "host_key.dropbear", "vmlinuz"} <= set(files)
    assert set(files.values()) == {0o600}, files


def test_missing_tools_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(guest_build.shutil, "which", lambda name, path=None: None)
    with pytest.raises(GuestBuildError) as info:
        check_tools()
    message = str(info.value)
    assert "qemu-system-x86_64 not found: install the qemu-system-x86 package" in message
    assert "busybox not found: install the busybox-static package" in message
    assert "dropbear not found: install the dropbear-bin package" in message


def test_cpio_archive_reads_back_with_the_real_tool() -> None:
    raw = io.BytesIO()
    cpio = CpioWriter(raw)
    cpio.directory("etc")
    cpio.file("etc/hello", b"hello world\n", 0o600)
    cpio.symlink("etc/link", "hello")
    cpio.close()
    out = subprocess.run(["cpio", "-itv", "--quiet"], input=raw.getvalue(),
                         capture_output=True, check=True).stdout.decode()
    lines = out.splitlines()
    assert lines[0].startswith("drwxr-xr-x") and lines[0].endswith(" etc")
    assert lines[1].startswith("-rw-------") and " root " in lines[1]
    assert lines[1].endswith(" etc/hello")
    assert lines[2].endswith("etc/link -> hello")
    with pytest.raises(ValueError, match="duplicate initramfs entry etc/hello"):
        cpio.file("etc/hello", b"")


def test_python_dash_m(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "vmtui", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "vmtui 0.1.0"
