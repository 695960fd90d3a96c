"""Local QEMU boots take turns: one per host CPU by default, a pool's own
``boot_parallel``, or none with 0; a boot that waits says so on its console."""

from __future__ import annotations

import asyncio
import time
import weakref
from pathlib import Path

import pytest

from tests.conftest import guest_config
from vmtui.backends.config.pool import ConfigError
from vmtui.backends.console.ring import SOURCE, TEXT, TIME
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.qemu import slots
from vmtui.backends.qemu.slots import BootTurns
from vmtui.guest.build import Guest


@pytest.fixture
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slots, "host_cpus", lambda: 2)
    monkeypatch.setattr(slots, "_host", weakref.WeakKeyDictionary())


async def boot_all(turns: list[BootTurns], hold: float = 0.05,
                   fail: int | None = None) -> tuple[int, list[str]]:
    """Boot one fake VM per entry of ``turns``: the most at once, and what
    the waiting ones were told."""
    running = most = 0
    told: list[str] = []

    async def boot(i: int, turn: BootTurns) -> None:
        nonlocal running, most
        async with turn.turn(told.append):
            running += 1
            most = max(most, running)
            try:
                await asyncio.sleep(hold)
                if i == fail:
                    raise RuntimeError("the boot failed")
            finally:
                running -= 1

    await asyncio.gather(*(boot(i, t) for i, t in enumerate(turns)), return_exceptions=True)
    return most, told


async def test_boots_take_one_turn_per_host_cpu_across_pools(two_cpus: None) -> None:
    a, b = BootTurns(None), BootTurns(None)  # two pools share the host's turns
    most, told = await boot_all([a, a, b, b, b])
    assert most == 2
    assert len(told) == 3
    assert told[0] == ("waiting for a turn to boot: 2 boot(s) at once, one per host CPU, "
                       "shared by every local QEMU pool (vm.boot_parallel: 0 for no limit)")


async def test_a_pools_own_limit_and_no_limit(two_cpus: None) -> None:
    one = BootTurns(1)
    most, told = await boot_all([one, one, one])
    assert most == 1
    assert told == ["waiting for a turn to boot: 1 boot(s) of this pool at once "
                    "(vm.boot_parallel)"] * 2
    free = BootTurns(0)
    most, told = await boot_all([free] * 5)
    assert (most, told) == (5, [])


async def test_a_failed_boot_gives_its_turn_back(two_cpus: None) -> None:
    turns = BootTurns(1)
    most, _ = await boot_all([turns] * 3, fail=0)
    assert most == 1
    async with asyncio.timeout(1):  # every turn was given back
        async with turns.turn(lambda why: None):
            pass


def test_boot_parallel_is_checked(guest: Guest, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="boot_parallel"):
        guest_config(guest, tmp_path, boot_parallel=-1)


@pytest.mark.guest
async def test_a_pool_boots_in_turns(guest: Guest, tmp_path: Path) -> None:
    fleet = Fleet(guest_config(guest, tmp_path, count=2, boot_parallel=1))
    try:
        await asyncio.wait_for(fleet.start(), 150)
        first, second = fleet.records["demo-0"], fleet.records["demo-1"]
        assert first.running_at is not None and second.running_at is not None, (
            first.error, second.error)
        lines = second.ring.since(0)[0]
        assert any(line[SOURCE] == "vmtui" and "waiting for a turn to boot: 1 boot(s) of "
                   "this pool" in line[TEXT] for line in lines)
        # The second VM's console began once the first was running, not before.
        first_running_wall = time.time() - (fleet.clock() - first.running_at)
        console = [line[TIME] for line in lines if line[SOURCE] == "console"]
        assert console and console[0] >= first_running_wall - 0.05
    finally:
        await fleet.close()
