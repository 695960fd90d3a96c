"""A libvirtd of the test run's own: started as root in a private mount namespace
(its state, run, log and config folders bind-mounted from the fixture's folder, so
a restarted daemon finds the domains that ran on; a libvirt-qemu user in a
private /etc/passwd), its socket in the fixture's folder, stopped at the end with
every domain destroyed. It never touches a system libvirt. An sshd on loopback,
of the fixture's own too, makes the remote path (qemu+ssh://) real."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START = r"""
set -e
D=$1
for d in run/libvirt lib/libvirt cache/libvirt log/libvirt etc/libvirt; do
  mkdir -p "$D/state/$d"
done
mount --bind "$D/state/run/libvirt" /run/libvirt 2>/dev/null ||
  { mkdir -p /run/libvirt; mount --bind "$D/state/run/libvirt" /run/libvirt; }
for d in lib cache log; do
  mkdir -p /var/$d/libvirt; mount --bind "$D/state/$d/libvirt" /var/$d/libvirt
done
mkdir -p /etc/libvirt; mount --bind "$D/state/etc/libvirt" /etc/libvirt
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

SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {d}/ssh_host_ed25519_key
AuthorizedKeysFile {d}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile {d}/sshd.pid
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Libvirtd:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "sock").mkdir(parents=True)
        self.log = folder / "libvirtd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.sshd: subprocess.Popen[bytes] | None = None
        self.ssh_port = 0

    @property
    def socket(self) -> Path:
        return self.folder / "sock" / "libvirt-sock"

    @property
    def uri(self) -> str:
        return f"qemu:///system?socket={self.socket}"

    @property
    def remote_uri(self) -> str:
        """The same daemon through SSH to loopback, as a remote host is reached."""
        d = self.folder
        return (f"qemu+ssh://root@127.0.0.1:{self.ssh_port}/system?socket={self.socket}"
                f"&proxy=netcat&keyfile={d}/client_key&command={d}/ssh&no_tty=1")

    def start(self) -> None:
        if os.geteuid() != 0:
            pytest.fail("the libvirtd fixture runs as root (CI runs the suite as root)")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", START, "sh",
                 str(self.folder)], stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            assert time.monotonic() < deadline, "libvirtd did not create its socket"
            time.sleep(0.1)

    def virsh(self, *args: str) -> str:
        return subprocess.run(["virsh", "-q", "-c", self.uri, *args], check=False,
                              capture_output=True, text=True, timeout=30).stdout

    def storage(self) -> Path:
        """A dir storage pool 'default' (autostarted: a restarted daemon has it),
        with a 16 MiB qcow2 base image; the image's path."""
        pool = self.folder / "pool"
        if not (pool / "base.qcow2").exists():
            pool.mkdir(exist_ok=True)
            self.virsh("pool-define-as", "default", "dir", "--target", str(pool))
            self.virsh("pool-start", "default")
            self.virsh("pool-autostart", "default")
            self.virsh("vol-create-as", "default", "base.qcow2", "16M", "--format", "qcow2")
        assert (pool / "base.qcow2").exists(), self.virsh("pool-list", "--all")
        return pool / "base.qcow2"

    def assert_nothing_left(self) -> None:
        """No domain runs and no overlay is left beside the base image."""
        import libvirt

        assert sorted(p.name for p in self.storage().parent.iterdir()) == ["base.qcow2"]
        conn = libvirt.open(self.uri)
        try:
            assert conn.listAllDomains() == []
        finally:
            conn.close()

    def kill_daemon(self) -> None:
        """Stop libvirtd alone: the domains' QEMUs run on (their own sessions)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.socket.unlink(missing_ok=True)

    def restart(self) -> None:
        self.kill_daemon()
        self.start()

    def start_sshd(self) -> None:
        d = self.folder
        for key in ("ssh_host_ed25519_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)],
                           check=True)
        (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
        self.ssh_port = _free_port()
        host_key = (d / "ssh_host_ed25519_key.pub").read_text().split()
        (d / "known_hosts").write_text(f"[127.0.0.1]:{self.ssh_port} {host_key[0]} "
                                       f"{host_key[1]}\n")
        # libvirt runs this as its ssh: the fixture's host key pinned, nothing of ~/.ssh.
        wrapper = d / "ssh"
        wrapper.write_text(f"#!/bin/sh\nexec ssh -F none -o UserKnownHostsFile={d}/known_hosts "
                           f"-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes \"$@\"\n")
        wrapper.chmod(0o755)
        (d / "sshd_config").write_text(SSHD_CONFIG.format(port=self.ssh_port, d=d))
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
        self.sshd = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
            stdout=open(d / "sshd.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.ssh_port), 0.5).close()
                return
            except OSError:
                assert self.sshd.poll() is None, (d / "sshd.log").read_text()
                assert time.monotonic() < deadline, "sshd did not listen"
                time.sleep(0.1)

    def destroy_all(self) -> None:
        """Every domain of this daemon destroyed and undefined (by virsh: the
        binding's event loop may be gone by the time a fixture ends)."""
        for name in self.virsh("list", "--all", "--name").split():
            self.virsh("destroy", name)
            self.virsh("undefine", name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.destroy_all()
            except Exception as exc:  # the QEMUs are killed below anyway
                print(f"libvirtd fixture: destroying domains: {exc}")
        self.kill_daemon()
        # A QEMU the daemon could not destroy must not outlive the tests.
        for pidfile in (self.folder / "state" / "run" / "libvirt" / "qemu").glob("*.pid"):
            try:
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass
        if self.sshd is not None and self.sshd.poll() is None:
            self.sshd.terminate()
            self.sshd.wait(10)


@pytest.fixture(scope="session")
def libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Libvirtd]:
    daemon = Libvirtd(tmp_path_factory.mktemp("libvirtd"))
    daemon.start()
    daemon.start_sshd()
    yield daemon
    daemon.stop()


DISK = """
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>"""


def template(guest_kernel: Path, guest_initrd: Path, append: str,
             metadata: str = "", disk: bool = False) -> str:
    """A TCG domain of the test guest: serial console, pvpanic, host entropy, and
    SSH forwarded to {ssh_port} on loopback (QEMU's user network, restricted)."""
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{{name}}</name>
  <uuid>{{uuid}}</uuid>{metadata}
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
    <emulator>/usr/bin/qemu-system-x86_64</emulator>{DISK if disk else ""}
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
