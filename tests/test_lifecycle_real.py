"""Lifecycle on real guests: pause, block jobs, reset, power-down, kill -9, kill -STOP."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import guest_config, make_disk
from tests.helpers import eventually
from vmtui.backends.console.ring import TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.qemu import QemuInstance
from vmtui.backends.qemu.domain import DomainTimeout
from vmtui.backends.vm.errors import StateError
from vmtui.backends.vm.state import InstanceState
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest


def qemu(fleet: Fleet, name: str) -> QemuInstance:
    inst = fleet.instance(name)
    assert isinstance(inst, QemuInstance)
    return inst


def count(fleet: Fleet, name: str, needle: str, since: int = 0) -> int:
    return sum(needle in line[TEXT] for line in fleet.console(name).since(since)[0])


async def test_pause_jobs_reset_powerdown(guest: Guest, workdir: Path, tmp_path: Path) -> None:
    disk = make_disk(tmp_path / "disk.qcow2")
    fleet = Fleet(guest_config(guest, workdir, devices=[
        {"kind": "block", "file": str(disk), "format": "qcow2", "id": "disk"}]))
    name = "demo-0"
    await asyncio.wait_for(fleet.start(), 150)
    try:
        guest_ops = fleet.guest(name)
        ring = fleet.console(name)
        # A ticker on the serial console, to see pause silence it.
        await guest_ops.run("(while true; do echo tick; sleep 0.1; done) > /dev/ttyS0 2>&1 &")
        await eventually(lambda: count(fleet, name, "tick") > 3, 10, "the ticker ticks")

        await fleet.pause(name)
        await fleet.wait_state(name, InstanceState.PAUSED, timeout=5)
        await asyncio.sleep(0.5)  # whatever was in flight lands
        mark = ring.next_seq
        await asyncio.sleep(1.5)
        assert count(fleet, name, "tick", mark) == 0
        await fleet.resume(name)
        await fleet.wait_state(name, InstanceState.RUNNING, timeout=5)
        await eventually(lambda: count(fleet, name, "tick", mark) > 3, 10, "ticks again")
        events = [text for _, source, text, _ in ring.since(0)[0] if source == "event"]
        assert "STOP" in events and "RESUME" in events

        # A snapshot, writes into the overlay, then commit them back down.
        domain = qemu(fleet, name).domain
        overlay = tmp_path / "overlay.qcow2"
        await domain.snapshot("disk", overlay)
        blocks = {b.device: b for b in await domain.block_devices()}
        assert blocks["disk"].file == str(overlay)
        await guest_ops.run("echo committed-data > /dev/vda; sync")
        done = await domain.commit("disk", timeout=60)
        assert done.name == "BLOCK_JOB_COMPLETED" and done.data["type"] == "commit"
        blocks = {b.device: b for b in await domain.block_devices()}
        assert blocks["disk"].file == str(disk)
        assert await domain.block_jobs() == []

        # Mirror to a copy and pivot onto it; then a mirror cancelled when ready.
        copy = tmp_path / "copy.qcow2"
        done = await domain.mirror("disk", copy, timeout=60)
        assert done.name == "BLOCK_JOB_COMPLETED" and done.data["type"] == "mirror"
        blocks = {b.device: b for b in await domain.block_devices()}
        assert blocks["disk"].file == str(copy)
        with domain.subscribe() as sub:
            await domain.execute("drive-mirror", {
                "device": "disk", "target": str(tmp_path / "c2.qcow2"), "format": "qcow2",
                "sync": "full", "job-id": "m2"})
            await sub.wait_for({"BLOCK_JOB_READY"}, 60)
        cancelled = await domain.cancel_job("m2")
        assert cancelled.data["device"] == "m2"
        blocks = {b.device: b for b in await domain.block_devices()}
        assert blocks["disk"].file == str(copy)  # a cancelled mirror does not pivot

        # Reset: a second boot on the console, back to running over SSH.
        mark = ring.next_seq
        await fleet.reset(name)
        await fleet.wait_state(name, InstanceState.BOOTING, timeout=5)
        await fleet.wait_state(name, InstanceState.RUNNING, timeout=120)
        assert count(fleet, name, "Linux version", mark) == 1
        assert count(fleet, name, "Linux version") == 2

        # Power-down: the guest shuts itself down; QEMU exits; stopped.
        pid = qemu(fleet, name).pid
        start = time.monotonic()
        await fleet.powerdown(name, timeout=30)
        assert fleet.snapshot()[0].state is InstanceState.STOPPED
        assert time.monotonic() - start < 30  # the guest did it, not the kill fallback
        assert count(fleet, name, "reboot: Power down") == 1
        assert not Path(f"/proc/{pid}").exists()
        assert b"committed-data" in disk.read_bytes()
        assert b"committed-data" in copy.read_bytes()
    finally:
        await fleet.close()


async def test_stopped_qemu_times_out_and_killed_qemu_is_lost(guest: Guest,
                                                              workdir: Path) -> None:
    fleet = Fleet(guest_config(guest, workdir, count=2))
    await asyncio.wait_for(fleet.start(), 150)
    try:
        frozen, other = qemu(fleet, "demo-0"), qemu(fleet, "demo-1")
        os.kill(frozen.pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            with pytest.raises(DomainTimeout, match=r"^demo-0: QMP query-status did not answer "
                                                     r"within 1s \(is QEMU stopped or hung\?\)"):
                await frozen.domain.execute("query-status", timeout=1)
            assert time.monotonic() - start < 2
            # The rest of the pool does not notice.
            assert (await other.domain.status()).running
            assert (await fleet.guest("demo-1").run("echo alive", timeout=20)).stdout == b"alive\n"
            # The fleet shows it paused (silent, not hung) and sends nothing to it.
            await eventually(lambda: fleet.record("demo-0").state is InstanceState.PAUSED, 5,
                             "a stopped QEMU shows paused")
            assert "the VM process is stopped" in fleet.record("demo-0").error
            with pytest.raises(StateError, match=r"QEMU process is stopped .*SysRq t not sent"):
                await fleet.diagnose("demo-0", "sysrq-t")
            # A QEMU that hangs without being stopped: the probe's timeout sends nothing.
            frozen.frozen = lambda: False  # type: ignore[method-assign]
            with pytest.raises(DomainTimeout, match="did not answer a status probe within 2s: "
                                                    "SysRq t not sent"):
                await fleet.diagnose("demo-0", "sysrq-t", via="keyboard")
            del frozen.frozen
        finally:
            os.kill(frozen.pid, signal.SIGCONT)
        assert (await frozen.domain.status()).running
        await fleet.wait_state("demo-0", InstanceState.RUNNING, timeout=5)
        mark = fleet.console("demo-0").next_seq
        await fleet.guest("demo-0").run("echo continued > /dev/ttyS0", timeout=30)
        await eventually(lambda: count(fleet, "demo-0", "continued", mark) > 0, 10, "continued")
        await asyncio.sleep(2)  # a SysRq sent late would have shown by now
        assert count(fleet, "demo-0", "sysrq: Show State", mark) == 0
        assert count(fleet, "demo-0", "Show State", 0) == 0
        await fleet.diagnose("demo-0", "sysrq-t")  # now it is taken, once
        await eventually(lambda: count(fleet, "demo-0", "sysrq: Show State", mark) == 1, 20,
                         "the SysRq sent to a running QEMU shows")

        log = fleet.record("demo-0").console_log
        before = log.read_bytes()
        os.kill(frozen.pid, signal.SIGKILL)
        start = time.monotonic()
        await fleet.wait_state("demo-0", InstanceState.LOST, timeout=1.0)
        print(f"lost after {time.monotonic() - start:.3f}s")
        assert "exited with status -9" in fleet.snapshot()[0].error
        await fleet.watch.settle()
        assert [(i.kind, i.title) for i in fleet.incidents] == [
            ("diagnose", "diagnose sysrq-t"), ("verdict", "lost connection to test machine")]
        assert log.read_bytes().startswith(before) and b"Linux version" in before

        await fleet.restart("demo-0")
        assert fleet.snapshot()[0].state is InstanceState.RUNNING
        assert log.read_bytes().count(b"Linux version") == 2
        assert fleet.snapshot()[1].state is InstanceState.RUNNING
    finally:
        await fleet.close()
