"""QMP inspectors and guest operations on a real shared guest (read-only use)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from pathlib import Path

import pytest

from tests.helpers import eventually
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.qemu import QemuInstance
from vmtui.backends.qemu.domain import DomainError
from vmtui.backends.ssh.session import CommandTimeout, GuestError
from vmtui.backends.vm.capabilities import GuestShell

pytestmark = pytest.mark.guest
NAME = "shared-0"


def qemu(fleet: Fleet) -> QemuInstance:
    inst = fleet.instance(NAME)
    assert isinstance(inst, QemuInstance)
    return inst


async def test_status_and_version(shared_fleet: Fleet) -> None:
    domain = qemu(shared_fleet).domain
    status = await domain.status()
    assert (status.status, status.running) == ("running", True)
    version = await domain.version()
    out = os.popen("qemu-system-x86_64 --version").read()
    assert f"version {version}" in out
    assert version.package and version.package in out
    assert await domain.supported("query-pci")
    assert not await domain.supported("no-such-command")


async def test_pci_has_the_virtio_nic_and_disk(shared_fleet: Fleet) -> None:
    devices = await qemu(shared_fleet).domain.pci_devices()
    nics = [d for d in devices if (d.vendor, d.device) == (0x1AF4, 0x1000)]
    assert len(nics) == 1 and nics[0].class_code == 0x0200
    disks = [d for d in devices if d.qdev_id == "data-dev"]
    assert len(disks) == 1 and (disks[0].vendor, disks[0].device) == (0x1AF4, 0x1001)
    assert any(d.description.startswith("Host bridge") for d in devices)


async def test_block_devices_and_stats(shared_fleet: Fleet) -> None:
    domain = qemu(shared_fleet).domain
    blocks = {b.device: b for b in await domain.block_devices()}
    disk = blocks["data"]
    assert disk.file.endswith("/data.raw") and disk.driver == "raw" and disk.read_only
    guest = shared_fleet.guest(NAME)
    await guest.run("dd if=/dev/vda of=/dev/null bs=64k count=16 2>/dev/null")
    stats = {s.device: s for s in await domain.block_stats()}
    assert stats["data"].rd_bytes >= 1 << 20
    assert await domain.block_jobs() == []


async def test_cpus_match_the_config(shared_fleet: Fleet) -> None:
    cpus = await qemu(shared_fleet).domain.cpus()
    assert [c.index for c in cpus] == [0, 1]
    assert all(c.target == "x86_64" and c.thread_id > 0 for c in cpus)
    regs = await qemu(shared_fleet).domain.hmp("info registers", cpu_index=1)
    assert "RIP=" in regs


async def test_errors_name_instance_and_command(shared_fleet: Fleet) -> None:
    with pytest.raises(DomainError, match=r"^shared-0: QMP no-such-command failed: "):
        await qemu(shared_fleet).domain.execute("no-such-command")


async def test_event_memory_is_bounded(shared_fleet: Fleet) -> None:
    domain = qemu(shared_fleet).domain
    with domain.subscribe(maxlen=3) as sub:
        for _ in range(6):
            await domain.execute("stop")
            await domain.execute("cont")
        await eventually(lambda: sub.dropped >= 9, 5, "12 events, room for 3")
        names = [e.name for e in [await sub.get() for _ in range(3)]]
        assert names[-1] == "RESUME"
    assert len(domain.history) <= domain.history.maxlen  # type: ignore[operator]


async def test_run_output_is_tagged_and_merged_with_console(shared_fleet: Fleet) -> None:
    guest = shared_fleet.guest(NAME)
    ring = shared_fleet.console(NAME)
    start = ring.next_seq
    result = await guest.run("echo out-line; echo err-line >&2; "
                             "echo console-line > /dev/ttyS0; exit 3")
    assert result.status == 3
    assert result.stdout == b"out-line\n" and result.stderr == b"err-line\n"

    def tagged_lines() -> set[tuple[str, str]]:
        return {(source, text) for _, source, text, _ in ring.since(start)[0]}

    await eventually(lambda: any("console-line" in text for _, text in tagged_lines()), 5)
    tagged = tagged_lines()
    assert ("stdout", "out-line") in tagged
    assert ("stderr", "err-line") in tagged
    assert any(src == "console" and "console-line" in text for src, text in tagged)
    log = (shared_fleet.record(NAME).console_log).read_bytes()
    assert b"out-line" in log and b"console-line" in log


async def test_command_past_its_timeout_is_killed(shared_fleet: Fleet) -> None:
    guest = shared_fleet.guest(NAME)
    with pytest.raises(CommandTimeout, match=r"'sleep 300' did not finish within 1s; killed"):
        await guest.run("sleep 300", timeout=1)
    ps = await _ps(guest)
    assert b"sleep 300" not in ps


async def _ps(guest: GuestShell) -> bytes:
    """The guest's process list. Right after a kill, dropbear refused the next
    session once under CI load ("Session request failed"): ask again, briefly."""
    for _ in range(10):
        try:
            return (await guest.run("ps")).stdout
        except GuestError:
            await asyncio.sleep(0.5)
    return (await guest.run("ps")).stdout


async def test_cancelled_command_is_killed(shared_fleet: Fleet) -> None:
    guest = shared_fleet.guest(NAME)
    task = asyncio.ensure_future(guest.run("sleep 301", timeout=60))
    await asyncio.sleep(1.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert b"sleep 301" not in await _ps(guest)


async def test_copy_in_with_checksum(shared_fleet: Fleet, tmp_path: Path) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "blob.bin"
    src.write_bytes(payload)
    guest = shared_fleet.guest(NAME)
    path = await guest.copy_in(src)
    assert path == "/tmp/blob.bin"
    out = await guest.run(f"sha256sum {path}")
    assert out.stdout.split()[0].decode() == hashlib.sha256(payload).hexdigest()


async def test_forward_round_trip(shared_fleet: Fleet) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.readline()
        writer.write(b"host saw: " + data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        address = await shared_fleet.guest(NAME).forward(port)
        assert re.fullmatch(r"127\.0\.0\.1:\d+", address)
        host, guest_port = address.split(":")
        out = await shared_fleet.guest(NAME).run(
            f"echo ping-from-guest | nc {host} {guest_port}", timeout=20)
        assert out.stdout == b"host saw: ping-from-guest\n"
    finally:
        server.close()


async def test_a_different_host_key_is_refused(shared_fleet: Fleet, tmp_path: Path) -> None:
    import asyncssh

    from vmtui.backends.ssh.target import SSHTarget, wait_for_ssh

    wrong = tmp_path / "other.pub"
    asyncssh.generate_private_key("ssh-ed25519").write_public_key(str(wrong))
    real = qemu(shared_fleet).ssh
    assert real is not None
    target = SSHTarget(real.host, real.port, real.user, real.key, wrong, True)
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await wait_for_ssh(target, timeout=20)
    # A pinned key of another type: the server drops the key exchange; the error
    # names both types at once instead of waiting out the boot timeout.
    rsa = tmp_path / "rsa.pub"
    asyncssh.generate_private_key("ssh-rsa", key_size=2048).write_public_key(str(rsa))
    target = SSHTarget(real.host, real.port, real.user, real.key, rsa, True)
    began = time.monotonic()
    with pytest.raises(asyncssh.HostKeyNotVerifiable,
                       match=r"holds a ssh-ed25519 host key, but the pinned ssh_host_key .*rsa"
                             r"\.pub is ssh-rsa"):
        await wait_for_ssh(target, timeout=60)
    assert time.monotonic() - began < 20
    unchecked = SSHTarget(real.host, real.port, real.user, real.key, None, False)
    assert await wait_for_ssh(unchecked, timeout=20) < 20


async def test_a_command_ended_by_a_signal_says_which(shared_fleet: Fleet) -> None:
    result = await shared_fleet.guest(NAME).run("kill -SEGV $$")
    assert (result.status, result.signal) == (-1, "SEGV")
    assert result.describe() == "killed by signal SEGV"
    ok = await shared_fleet.guest(NAME).run("exit 4")
    assert (ok.signal, ok.describe()) == ("", "exited with status 4")


async def test_the_guests_ssh_server_serves_a_connection_without_re_executing(
        shared_fleet: Fleet) -> None:
    # dropbear re-executes itself for each connection when it can open its own
    # binary (50 to 150 ms under TCG before the banner); the guest starts it so
    # it cannot, and this session's server process is the daemon's fork.
    result = await shared_fleet.guest(NAME).run("ps -o args | grep '^dropbear'")
    servers = result.stdout.decode().splitlines()
    assert len(servers) >= 2, servers  # the daemon and this session's server
    assert not any(" -2 " in args for args in servers), servers
