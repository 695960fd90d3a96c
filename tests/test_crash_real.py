"""Hung and crashed kernels on real guests: detection, verdicts, diagnose, evidence, hold."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.conftest import guest_config
from vmtui.backends.config.pool import parse_config
from vmtui.backends.console.ring import TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.monitor.detector import NO_OUTPUT
from vmtui.backends.monitor.evidence import FILES
from vmtui.backends.qemu import QemuInstance
from vmtui.backends.vm.state import InstanceState
from vmtui.demo import demo_dict
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest
SHARED = "shared-0"


async def test_sysrq_crash_is_detected_with_evidence(guest: Guest, workdir: Path) -> None:
    fleet = Fleet(guest_config(guest, workdir, name="crash"))
    fleet.watch.after_seconds = 1.0
    name = "crash-0"
    await asyncio.wait_for(fleet.start(), 150)
    try:
        start = time.monotonic()
        # The command never returns: the kernel dies under it.
        crasher = asyncio.ensure_future(
            fleet.guest(name).run("echo c > /proc/sysrq-trigger", timeout=30))
        await fleet.wait_state(name, InstanceState.CRASHED, timeout=30)
        print(f"crash detected {time.monotonic() - start:.2f}s after the command")
        snap = fleet.snapshot()[0]
        assert snap.title == "kernel panic: sysrq triggered crash"  # syzkaller's title
        assert snap.error == snap.title
        await fleet.watch.settle()
        [incident] = fleet.incidents
        assert incident.kind == "crash" and incident.complete
        assert incident.title == snap.title
        # Every file but diagnosis.txt (nothing was diagnosed; no file is empty).
        assert set(FILES) - {"diagnosis.txt"} <= set(incident.files)
        folder = incident.folder
        assert folder.parent == snap.workdir / "incidents"
        read = lambda f: (folder / f).read_text() if f in incident.files else ""  # noqa: E731
        assert "sysrq triggered crash" in read("console-before.txt") + read("console-after.txt")
        assert "Kernel panic - not syncing: sysrq triggered crash" in read("report.txt")
        assert "GUEST_PANICKED" in read("events.jsonl")
        assert "RIP=" in read("registers.txt")
        assert "version: 7." in read("qemu.txt") and "-device pvpanic" in read("qemu.txt")
        assert "name: crash" in read("config.yaml")
        assert f"title: {snap.title}" in read("report.txt")
        # pvpanic paused the guest: it is kept for a debugger, not rebooted.
        inst = fleet.instance(name)
        assert isinstance(inst, QemuInstance)
        assert (await inst.domain.status()).status == "guest-panicked"
    finally:
        crasher.cancel()
        await fleet.close()


async def test_a_paused_guest_is_not_hung_and_its_clock_starts_on_resume(
        guest: Guest, workdir: Path) -> None:
    data = demo_dict(guest, count=1, workdir=workdir)
    data["name"], data["no_output_timeout"] = "hang", 3
    fleet = Fleet(parse_config(data, file="<test>", base_dir=workdir))
    fleet.watch.after_seconds = 0.5
    await asyncio.wait_for(fleet.start(), 150)
    try:
        assert fleet.snapshot()[0].hung_in is not None
        inst = fleet.instance("hang-0")
        assert isinstance(inst, QemuInstance)
        await inst.domain.stop()
        await fleet.wait_state("hang-0", InstanceState.PAUSED, timeout=5)
        await asyncio.sleep(5)  # past no_output_timeout, silent on purpose
        snap = fleet.snapshot()[0]
        assert snap.state is InstanceState.PAUSED and snap.hung_in is None
        await fleet.resume("hang-0")
        await fleet.wait_state("hang-0", InstanceState.RUNNING, timeout=5)
        hung_in = fleet.snapshot()[0].hung_in
        assert hung_in is not None and hung_in > 1.5  # counted from the resume
        # Silent while running: hung (the guest's heartbeat is a minute apart).
        await fleet.wait_state("hang-0", InstanceState.CRASHED, timeout=10)
        snap = fleet.snapshot()[0]
        assert snap.title == NO_OUTPUT and snap.hung_in is None
        await fleet.watch.settle()
        assert [(i.kind, i.title) for i in fleet.incidents] == [("verdict", NO_OUTPUT)]
        events = (fleet.incidents[0].folder / "events.jsonl").read_text()
        assert "STOP" in events and "RESUME" in events
    finally:
        await fleet.close()


async def test_sysrq_through_the_keyboard(shared_fleet: Fleet) -> None:
    ring = shared_fleet.console(SHARED)
    mark = ring.next_seq
    await shared_fleet.diagnose(SHARED, "sysrq-w")
    deadline = time.monotonic() + 10
    while not any("sysrq: Show Blocked State" in line[TEXT] for line in ring.since(mark)[0]):
        assert time.monotonic() < deadline, "no sysrq line on the console"
        await asyncio.sleep(0.1)


async def test_registers_of_both_vcpus(shared_fleet: Fleet) -> None:
    result = await shared_fleet.diagnose(SHARED, "registers")
    assert set(result.sections) == {"registers cpu 0", "registers cpu 1"}
    for text in result.sections.values():
        assert "RIP=" in text and "CR3=" in text
    await shared_fleet.watch.settle()
    incident = shared_fleet.incidents[-1]
    assert incident.kind == "diagnose" and incident.complete
    assert "registers cpu 1" in (incident.folder / "diagnosis.txt").read_text()


async def test_hold_opens_a_gdb_stub(shared_fleet: Fleet) -> None:
    command = await shared_fleet.hold(SHARED)
    try:
        path = command.split("target remote ")[1].split("'")[0]  # a unix socket
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"$?#3f")  # GDB remote protocol: why did the target stop?
        await writer.drain()
        reply = b""
        while b"+" not in reply or reply.count(b"#") < 1:
            reply += await asyncio.wait_for(reader.read(64), 10)
        # QEMU announces the stop on connect and acknowledges ours ("+"), each a
        # stop-reply packet "$T<signal>...#<checksum>".
        assert b"+" in reply and reply.count(b"$T") >= 1, reply
        writer.close()
        snap = next(s for s in shared_fleet.snapshot() if s.name == SHARED)
        assert snap.held and f"target remote {path}'" in snap.gdb
        with pytest.raises(Exception, match="held; release it before you restart it"):
            await shared_fleet.restart(SHARED)
    finally:
        await shared_fleet.release(SHARED)
        inst = shared_fleet.instance(SHARED)
        assert isinstance(inst, QemuInstance)
        await inst.domain.cont()  # the gdb connection stopped the vCPUs
    assert not shared_fleet.record(SHARED).held


async def test_sysrq_through_proc(shared_fleet: Fleet) -> None:
    ring = shared_fleet.console(SHARED)
    mark = ring.next_seq
    await shared_fleet.diagnose(SHARED, "sysrq-m", via="proc")
    deadline = time.monotonic() + 10
    while not any("sysrq: Show Memory" in line[TEXT] for line in ring.since(mark)[0]):
        assert time.monotonic() < deadline, "no sysrq line on the console"
        await asyncio.sleep(0.1)
