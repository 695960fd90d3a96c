"""Several pools in one vmtui: Fleets routes each instance to its pool, merges
crashes by title and refuses two pools of one name; the pool table gains a Pool
column (with the host), counts per pool, filters by pool, and ':' switches the view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.helpers import scripted_config
from tests.test_snapshots import BOOT, fixed_place_and_zone, settled  # noqa: F401
from vmtui.app import VmtuiApp
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.fleets import Fleets
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.monitor.detector import GuestText
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.state import InstanceState
from vmtui.widgets.pool_table import PoolTable


def two_pools(base: Path = Path(".")) -> Fleets:
    local = scripted_config(base / "work-a", count=2, lines=BOOT, name="local",
                            base_dir=base)
    far = scripted_config(base / "work-b", count=3, lines=BOOT, name="far", fail=[1],
                          base_dir=base, host="fuzz-7.example.org")
    return Fleets([Fleet(c, clock=lambda: 1000.0, wallclock=lambda: 0.0, run_name="run")
                   for c in (local, far)])


def test_two_pools_of_one_name_are_refused(tmp_path: Path) -> None:
    a = Fleet(scripted_config(tmp_path / "a", name="same"), run_name="run")
    b = Fleet(scripted_config(tmp_path / "b", name="same"), run_name="run")
    with pytest.raises(VMError, match="pool 'same' is named so in <test> and in <test>"):
        Fleets([a, b])


async def test_each_instance_goes_to_its_own_pool(tmp_path: Path) -> None:
    fleets = two_pools(tmp_path)
    await fleets.start()
    try:
        assert list(fleets.records) == ["local-0", "local-1", "far-0", "far-1", "far-2"]
        assert fleets.of("far-2") is fleets.fleets[1]
        assert [s.pool for s in fleets.snapshot()] == ["local"] * 2 + ["far"] * 3
        await fleets.pause("far-0")
        await fleets.wait_state("far-0", InstanceState.PAUSED, timeout=5)
        assert fleets.fleets[1].record("far-0").state is InstanceState.PAUSED
        assert fleets.record("local-0").state is InstanceState.RUNNING
        await fleets.kill("local-1")
        assert fleets.fleets[0].record("local-1").state is InstanceState.STOPPED
        # One title crashed in both pools: one row, counts summed, both instances.
        for fleet, name in ((fleets.fleets[0], "local-0"), (fleets.fleets[1], "far-2")):
            fleet.watch.crash(fleet.record(name), GuestText("BUG: same in both"), "crash")
            await fleet.watch.settle()
        crashes = fleets.crashes()
        assert [(c.title, c.count, c.instances) for c in crashes] == [
            ("BUG: same in both", 2, ["local-0", "far-2"])]
        assert {i.instance for i in fleets.incidents} == {"local-0", "far-2"}
    finally:
        await fleets.close()
    assert all(r.instance is None for r in fleets.records.values())


def make_app() -> VmtuiApp:
    fleets = two_pools()
    for fleet in fleets.fleets:
        fleet.watch.after_seconds = 0
    return VmtuiApp(LocalControl(fleets))


def test_two_pools_on_one_screen(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=settled)


def test_colon_views_one_pool(snap_compare: Any) -> None:
    async def pick_far(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("colon")
        await pilot.pause()
        await pilot.press("down", "down", "enter")  # all, local, far
        await settled(pilot)
        table = pilot.app.screen.query_one(PoolTable)
        assert table.pool_view == "far"
        assert table.row_count == 3

    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=pick_far)


async def test_the_filter_finds_a_pool_by_its_host() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(pilot)
        table = pilot.app.screen.query_one(PoolTable)
        assert table.row_count == 5
        await pilot.press("slash", *"example.org", "enter")
        await settled(pilot)
        assert table.row_count == 3
        await pilot.press("escape")
        await pilot.press("colon")
        await pilot.pause()
        await pilot.press("enter")  # all pools
        await settled(pilot)
        assert table.pool_view is None and table.row_count == 5
        await app.action_quit()
