"""Only the owner reaches a held VM: the gdb stub is a unix socket in the private
runtime folder, the command vmtui shows attaches gdb 13 to it, and another uid is
refused; every socket QEMU listens on is its owner's alone, whatever the umask."""

from __future__ import annotations

import asyncio
import errno
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import guest_config
from tests.helpers import scripted_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.qemu import QemuInstance
from vmtui.backends.qemu.gdbstub import attach_command, check_private, hmp_open
from vmtui.backends.vm.errors import StateError
from vmtui.backends.vm.state import InstanceState
from vmtui.guest.build import Guest

SHARED = "shared-0"

# Run as `nobody`: connect to a unix path or a HOST:PORT, print "connected" or the errno.
CONNECT = """
import errno, socket, sys
target = sys.argv[1]
if target.startswith("/"):
    sock, addr = socket.socket(socket.AF_UNIX), target
else:
    host, port = target.rsplit(":", 1)
    sock, addr = socket.socket(), (host, int(port))
try:
    sock.connect(addr)
except OSError as exc:
    print(errno.errorcode.get(exc.errno, exc.errno))
else:
    print("connected")
"""


async def connect_as_nobody(target: str) -> str:
    """Try to connect to ``target`` as uid nobody; "connected" or the errno's name."""
    proc = await asyncio.create_subprocess_exec(
        "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
        "/usr/bin/python3", "-I", "-S", "-c", CONNECT, target,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return out.decode().strip()


def target_of(command: str) -> str:
    """What ``target remote`` names in a gdb command line."""
    [target] = [arg.split(" ", 2)[2] for arg in shlex.split(command, comments=True)
                if arg.startswith("target remote ")]
    return target


# -- the pieces, without QEMU ---------------------------------------------------------

def test_the_attach_command_names_the_socket_path() -> None:
    assert attach_command(Path("/tmp/vmtui-ab/fuzz-0.gdb"), "amd64") == (
        "gdb -ex 'set architecture i386:x86-64' -ex 'target remote /tmp/vmtui-ab/fuzz-0.gdb'"
        "  # add your vmlinux for symbols")
    odd = Path("/tmp/a b/it's.gdb")
    assert target_of(attach_command(odd, "unknown-arch")) == str(odd)


def test_the_hmp_command_quotes_the_path() -> None:
    assert hmp_open(Path('/tmp/a b,c/x"y.gdb')) == (
        'gdbserver "unix:/tmp/a b,,c/x\\"y.gdb,server=on,wait=off"')


def test_a_stub_is_refused_outside_a_private_folder(tmp_path: Path) -> None:
    folder = tmp_path / "rt"
    folder.mkdir(mode=0o700)
    check_private(folder / "vm-0.gdb")  # private: accepted
    folder.chmod(0o755)
    with pytest.raises(StateError, match=r"rt is not a private folder .*drwxr-xr-x"):
        check_private(folder / "vm-0.gdb")
    colon = tmp_path / "a:b"
    colon.mkdir(mode=0o700)
    with pytest.raises(StateError, match="holds ':', which gdb reads as HOST:PORT"):
        check_private(colon / "vm-0.gdb")


async def test_the_scripted_stub_has_the_unix_socket_shape(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path))
    try:
        await fleet.start()
        command = await fleet.hold("snap-0")
        assert target_of(command).endswith("/snap-0.gdb")
        assert "127.0.0.1" not in command
    finally:
        await fleet.close()


# -- real guests ----------------------------------------------------------------------

@pytest.mark.guest
async def test_gdb_attaches_with_the_shown_command_and_nobody_is_refused(
        shared_fleet: Fleet) -> None:
    inst = shared_fleet.instance(SHARED)
    assert isinstance(inst, QemuInstance)
    command = await shared_fleet.hold(SHARED)
    try:
        target = target_of(command)
        # Another local user cannot even reach the socket (its folder is 0700).
        assert await connect_as_nobody(target) == "EACCES", command
        path = Path(target)
        assert path.parent == inst.qmp_socket.parent and stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        # The exact command shown, run in batch mode, reads the vCPU's registers.
        argv = shlex.split(command, comments=True)
        argv[1:1] = ["-nx", "-batch"]
        argv += ["-ex", "info registers rip"]
        gdb = await asyncio.create_subprocess_exec(
            *argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = (await asyncio.wait_for(gdb.communicate(), 120))[0].decode()
        assert re.search(r"^rip\s+0x[0-9a-f]+", out, re.M), out
    finally:
        await shared_fleet.release(SHARED)
        if (await inst.domain.status()).status != "running":
            await inst.domain.cont()  # a connection stops the vCPUs
    assert not path.exists()  # closing the stub removed its socket
    await shared_fleet.wait_state(SHARED, InstanceState.RUNNING, timeout=10)


@pytest.mark.guest
async def test_qemu_sockets_are_the_owners_whatever_the_umask(guest: Guest,
                                                               tmp_path: Path) -> None:
    # A user's extra QMP socket and socket chardev in a folder anyone may enter
    # (pytest's tmp_path is not: its parent is 0700), started by a vmtui whose
    # umask lets everyone write.
    public = Path(tempfile.mkdtemp(prefix="vmtui-test-public-"))
    public.chmod(0o777)
    qmp, console = public / "tool.qmp", public / "console.sock"
    config = guest_config(guest, tmp_path / "work", name="umask", network=False,
                          start_paused=True, qmp_sockets=[str(qmp)],
                          devices=[{"kind": "chardev", "path": str(console)}])
    old = os.umask(0)
    try:
        fleet = Fleet(config)
        await asyncio.wait_for(fleet.start(), 60)
    finally:
        os.umask(old)
    try:
        assert fleet.record("umask-0").state is InstanceState.PAUSED
        inst = fleet.instance("umask-0")
        assert isinstance(inst, QemuInstance)
        for sock in (qmp, console, inst.qmp_socket):
            assert stat.S_IMODE(sock.stat().st_mode) & 0o077 == 0, \
                f"{sock}: {stat.filemode(sock.stat().st_mode)}"
            assert await connect_as_nobody(str(sock)) == errno.errorcode[errno.EACCES], sock
    finally:
        await fleet.close()
        shutil.rmtree(public)
