"""A libvirtd of the test run's own: started as root in a private mount namespace
(tmpfs over libvirt's state, run, log and config folders, a libvirt-qemu user in
a private /etc/passwd), its socket in a folder of the test's, stopped at the end.
It never touches a system libvirt."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START = r"""
set -e
D=$1
for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /etc/libvirt; do
  mkdir -p $d; mount -t tmpfs tmpfs $d
done
# The QEMU driver resolves its compiled-in user before reading qemu.conf.
cp /etc/passwd /etc/group "$D/"
grep -q '^libvirt-qemu:' "$D/passwd" ||
  echo 'libvirt-qemu:x:64055:64055::/nonexistent:/usr/sbin/nologin' >> "$D/passwd"
grep -q '^libvirt-qemu:' "$D/group" || echo 'libvirt-qemu:x:64055:' >> "$D/group"
grep -q '^kvm:' "$D/group" || echo 'kvm:x:64056:' >> "$D/group"
mount --bind "$D/passwd" /etc/passwd
mount --bind "$D/group" /etc/group
mkdir -p /etc/libvirt/qemu /var/log/libvirt/qemu /var/lib/libvirt/qemu
cat > /etc/libvirt/libvirtd.conf <<CONF
unix_sock_dir = "$D/sock"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
CONF
cat > /etc/libvirt/qemu.conf <<CONF
user = "root"
group = "root"
dynamic_ownership = 0
stdio_handler = "file"
security_driver = "none"
CONF
exec /usr/sbin/libvirtd -f /etc/libvirt/libvirtd.conf -p "$D/libvirtd.pid"
"""


class Libvirtd:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "sock").mkdir(parents=True)
        self.log = folder / "libvirtd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"qemu:///system?socket={self.folder / 'sock' / 'libvirt-sock'}"

    def start(self) -> None:
        if os.geteuid() != 0:
            pytest.fail("the libvirtd fixture runs as root (CI runs the suite as root)")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", START, "sh",
                 str(self.folder)], stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while not (self.folder / "sock" / "libvirt-sock").exists():
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            assert time.monotonic() < deadline, "libvirtd did not create its socket"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        (self.folder / "sock" / "libvirt-sock").unlink(missing_ok=True)


@pytest.fixture(scope="session")
def libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Libvirtd]:
    daemon = Libvirtd(tmp_path_factory.mktemp("libvirtd"))
    daemon.start()
    yield daemon
    daemon.stop()


def template(guest_kernel: Path, guest_initrd: Path, append: str) -> str:
    """A TCG domain of the test guest: serial console, pvpanic, host entropy, and
    SSH forwarded to {ssh_port} on loopback (QEMU's user network, restricted)."""
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{{name}}</name>
  <uuid>{{uuid}}</uuid>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{guest_kernel}</kernel>
    <initrd>{guest_initrd}</initrd>
    <cmdline>{append}</cmdline>
  </os>
  <features><acpi/></features>
  <on_crash>preserve</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <panic model='isa'/>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=vmtuinet,restrict=on,hostfwd=tcp:127.0.0.1:{{ssh_port}}-:22'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='virtio-net-pci,netdev=vmtuinet,mac={{mac}},bus=pci.0,addr=0x10'/>
  </qemu:commandline>
</domain>
"""
