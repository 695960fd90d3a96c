"""The evidence of a kernel panic is complete at its closing line: the incident
does not wait the rest of ``after_seconds`` (the farm restarts sooner)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tests.helpers import scripted_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.scripted import ScriptedInstance
from vmtui.backends.vm.state import InstanceState

PANIC = [
    "{name}: up, ssh on port 22",
    "[   10.000000] sysrq: Trigger a crash",
    "[   10.000001] Kernel panic - not syncing: sysrq triggered crash",
    "[   10.000002] CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1",
    "[   10.000003] Call Trace:",
    "[   10.000004]  <TASK>",
    "[   10.000005]  dump_stack_lvl+0x44/0x5c",
    "[   10.000006]  panic+0x118/0x2f0",
    "[   10.000007]  </TASK>",
]


@contextlib.asynccontextmanager
async def crashed(tmp: Path, lines: list[str], after: float) -> AsyncIterator[Fleet]:
    """A scripted VM whose console holds ``lines`` (a panic), once it is crashed."""
    fleet = Fleet(scripted_config(tmp, count=1, lines=lines, name="p"))
    fleet.watch.after_seconds = after
    try:
        await fleet.start()
        await fleet.wait_state("p-0", InstanceState.CRASHED, timeout=10)
        yield fleet
    finally:
        await fleet.close()


async def test_a_panics_closing_line_ends_the_wait(tmp_path: Path) -> None:
    lines = [*PANIC, "[   10.000008] ---[ end Kernel panic - not syncing: sysrq triggered "
             "crash ]---"]
    async with crashed(tmp_path, lines, after=60) as fleet:
        await asyncio.wait_for(fleet.watch.settle(), 10)  # not the 60 s
        [incident] = fleet.incidents
        assert incident.complete
        # An incident holds no empty file: console-after.txt only if lines came after.
        assert any("end Kernel panic" in incident.read(name) for name in
                   ("console-before.txt", "console-after.txt") if name in incident.files)


async def test_without_its_closing_line_the_wait_is_whole(tmp_path: Path) -> None:
    async with crashed(tmp_path, PANIC, after=1.5) as fleet:
        loop = asyncio.get_running_loop()
        began = loop.time()
        await fleet.watch.settle()
        assert loop.time() - began > 1.0  # the report may go on: it waited


async def test_a_panic_the_vm_reported_and_stopped_for_ends_the_wait(tmp_path: Path) -> None:
    # With pvpanic QEMU stops the guest inside panic(): the closing line never comes.
    async with crashed(tmp_path, PANIC, after=60) as fleet:
        inst = fleet.instance("p-0")
        assert isinstance(inst, ScriptedInstance)
        inst.emit("GUEST_PANICKED")
        await asyncio.wait_for(fleet.watch.settle(), 10)  # not the 60 s
        assert fleet.incidents[0].complete
