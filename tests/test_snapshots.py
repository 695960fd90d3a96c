"""One SVG snapshot per screen, deterministic: scripted VMs, a fixed clock."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.helpers import scripted_config
from vmtui.app import VmtuiApp
from vmtui.backends.base import InstanceState
from vmtui.backends.fleet import Fleet

# A fixed folder so the log path on the instance screen is the same every run.
SNAP_DIR = Path("/tmp/vmtui-snapshots")

BOOT = [
    "[    0.000000] Linux version 6.1.0-test (scripted) #1 SMP",
    "[    0.000000] Command line: console=ttyS0",
    "[    1.250000] Run /init as init process",
    "\x1b[31m[@click=app.quit]hostile[/] \x9b6n\x7f",
    "{name}: up, ssh on port 22",
]


def make_app() -> VmtuiApp:
    shutil.rmtree(SNAP_DIR, ignore_errors=True)
    config = scripted_config(SNAP_DIR, count=3, fail=[2], lines=BOOT, name="snap")
    fleet = Fleet(config, clock=lambda: 1000.0, wallclock=lambda: 0.0, run_name="run")
    return VmtuiApp(fleet)


async def settled(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, VmtuiApp)
    while any(s.state is InstanceState.BOOTING for s in app.fleet.snapshot()):
        await pilot.pause(0.05)
    app.bridge.push_pool()
    app.bridge.push_consoles()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


@pytest.mark.parametrize("size", [(80, 24), (120, 30)])
def test_pool_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=settled)


def test_instance_screen(snap_compare: Any) -> None:
    async def open_first(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("enter")
        await settled(pilot)

    assert snap_compare(make_app(), terminal_size=(100, 24), run_before=open_first)


def test_help_screen(snap_compare: Any) -> None:
    async def open_help(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("question_mark")
        await settled(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=open_help)
