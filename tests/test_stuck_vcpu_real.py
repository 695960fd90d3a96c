"""The stuck-vCPU verdict on real guests: a vCPU spinning with interrupts off is
named with its function in seconds; an idle guest and a guest busy in user space
get no verdict, though they are sampled just as often."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.helpers import eventually
from vmtui.backends.config.pool import parse_config
from vmtui.backends.console.ring import TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.inspection import inspect
from vmtui.backends.monitor.detector import NO_OUTPUT
from vmtui.backends.monitor.vcpus import VcpuSample
from vmtui.backends.vm.capabilities import RunResult
from vmtui.backends.vm.state import InstanceState
from vmtui.demo import demo_dict
from vmtui.guest.build import Guest
from vmtui.guest.crashmod import CRASH_MODULE

pytestmark = pytest.mark.guest
SPIN = "vmtui_crash_irqspin"
# What the kernel itself prints about a stalled CPU, later (21 s, or when the spin ends).
KERNEL_STALL = ("soft lockup", "rcu_preempt detected stall", "self-detected stall")


def _config(guest: Guest, workdir: Path, name: str, samples: int, period: float,
            cpus: int = 2) -> Fleet:
    data = demo_dict(guest, count=1, workdir=workdir)
    data.update(name=name, stuck_vcpu_samples=samples, stuck_vcpu_period=period)
    data["vm"]["cpus"] = cpus
    return Fleet(parse_config(data, file="<test>", base_dir=workdir))


async def test_a_vcpu_spinning_with_interrupts_off_is_named(guest: Guest,
                                                            workdir: Path) -> None:
    fleet = _config(guest, workdir, "spin", samples=5, period=1.0)
    fleet.stuck.modules_every = 1.0  # the module's symbols soon after insmod
    name = "spin-0"
    await asyncio.wait_for(fleet.start(), 150)
    rec = fleet.record(name)
    writer: asyncio.Future[RunResult] | None = None
    try:
        shell = fleet.guest(name)
        loaded = await shell.run(f"insmod {CRASH_MODULE}", timeout=30)
        assert loaded.status == 0, loaded.describe()
        await eventually(lambda: rec.symbols is not None and rec.symbols.loaded is not None
                     and rec.symbols.loaded.address(SPIN) is not None, 30,
                     "the module's symbols")
        # Pinned to vCPU 1; vCPU 0 stays free (and idle).
        writer = asyncio.ensure_future(
            shell.run("taskset -c 1 sh -c 'echo irqspin > /proc/vmtui_crash'", timeout=90))
        await fleet.wait_state(name, InstanceState.CRASHED, timeout=60)
        title = f"vCPU 1 stuck in {SPIN}"
        assert rec.title == title and rec.title != NO_OUTPUT
        # The verdict came before the kernel said anything of the stall.
        console = "\n".join(line[TEXT] for line in rec.ring.since(0)[0])
        assert "vmtui_crash: irqspin" in console
        assert not any(word in console for word in KERNEL_STALL), console[-2000:]
        # The CPUs tab, while vCPU 1 still spins: its function, CPL 0, not halted.
        table = await inspect(rec, "cpus")
        assert table.columns == ("CPU", "Thread", "RIP", "CPL", "Halted", "Task")
        cpu1 = table.rows[1]
        assert cpu1[0] == "1" and cpu1[2].startswith(f"{SPIN}+0x") and "[vmtui_crash]" in cpu1[2]
        assert cpu1[3:5] == ("0", "no")
        await fleet.watch.settle()
        [incident] = fleet.incidents
        assert incident.kind == "verdict" and incident.title == title and incident.complete
        diagnosis = (incident.folder / "diagnosis.txt").read_text()
        samples = diagnosis.split("== stuck vCPU ==\n")[1].split("== ")[0]
        rows = [line for line in samples.splitlines() if f"{SPIN}+0x" in line]
        assert len(rows) == 5 and all(line.split()[1] == "1" for line in rows), samples
        assert "symbols: kallsyms, _text at" in samples
        assert "RIP=" in (incident.folder / "registers.txt").read_text()
        [crash] = fleet.crashes.all()
        assert crash.title == title
    finally:
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        await fleet.close()


@pytest_asyncio.fixture
async def quiet_fleet(guest: Guest, workdir: Path) -> AsyncIterator[Fleet]:
    # Stricter than the defaults: three samples half a second apart would do.
    fleet = _config(guest, workdir, "calm", samples=3, period=0.5)
    fleet.stuck.idle_every = 1  # sampled as often as a suspect guest
    await asyncio.wait_for(fleet.start(), 150)
    try:
        yield fleet
    finally:
        await fleet.close()


async def test_no_verdict_on_an_idle_guest_nor_one_busy_in_user_space(
        quiet_fleet: Fleet) -> None:
    name = "calm-0"
    rec = quiet_fleet.record(name)
    detector = quiet_fleet.stuck.detectors[name]
    await eventually(lambda: rec.symbols is not None, 60, "the kernel's symbols")

    async def sampled(count: int) -> list[tuple[float, VcpuSample, str]]:
        """``count`` more samples of each vCPU while the console is silent."""
        start = detector.taken
        await eventually(lambda: detector.taken - start >= 2 * count, 120, f"{count} samples")
        return list(detector.history)[-2 * count:]

    idle = await sampled(20)
    assert rec.state is InstanceState.RUNNING and not quiet_fleet.incidents
    assert sum(s.halted for _, s, _ in idle) >= 20
    # One busy loop per vCPU, in the shell: user space only.
    shell = quiet_fleet.guest(name)
    for cpu in (0, 1):
        await shell.run(f"taskset -c {cpu} setsid sh -c 'while :; do :; done' "
                        "</dev/null >/dev/null 2>&1 &", timeout=30)
    busy = await sampled(20)
    assert rec.state is InstanceState.RUNNING and not quiet_fleet.incidents
    user = [s for _, s, _ in busy if s.cpl == 3 and not s.halted]
    assert len(user) >= 20, busy  # the loops were sampled, at CPL 3, running
