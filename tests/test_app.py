"""App-level tests with run_test(): the real demo pool, and scripted edge cases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.message import Message
from textual.pilot import Pilot

from tests.helpers import pid_alive, qemu_pids_in, scripted_config, wait_dead
from vmtui.app import VmtuiApp
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.vm.state import InstanceState
from vmtui.bridge import Bridge
from vmtui.demo import demo_config
from vmtui.guest.build import Guest
from vmtui.screens.help import HelpScreen
from vmtui.screens.instance import InstanceScreen
from vmtui.screens.pool import PoolScreen
from vmtui.screens.text import TextScreen
from vmtui.widgets.console_view import ConsoleView
from vmtui.widgets.pool_table import PoolTable


async def until(pilot: Pilot[object], cond: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.1)


def states(app: VmtuiApp) -> list[str]:
    table = app.screen.query_one(PoolTable)
    return [table.get_cell(name, "state").plain for name in app.bridge.names()]


@pytest.mark.guest
async def test_demo_pool_boots_on_screen(guest: Guest, workdir: Path) -> None:
    fleet = Fleet(demo_config(guest, count=2, workdir=workdir))
    app = VmtuiApp(LocalControl(fleet))
    seen: list[Message] = []
    async with app.run_test(size=(120, 32), message_hook=seen.append) as pilot:
        await until(pilot, lambda: app.screen.query(PoolTable)
                    and len(app.screen.query_one(PoolTable).rows) == 2, 10)
        assert "booting" in states(app)
        await until(pilot, lambda: states(app) == ["running", "running"], 150)
        pids = [fleet.instance(n).pid for n in fleet.records]  # type: ignore[union-attr]
        await pilot.press("down", "enter")
        assert isinstance(app.screen, InstanceScreen)
        assert app.screen.instance_name == "demo-1"
        view = app.screen.query_one(ConsoleView)
        await until(pilot, lambda: any("Linux version" in line
                                       for line in view.plain_lines()), 5)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("q")
        assert isinstance(app.screen, PoolScreen)
        await pilot.press("q")
    kinds = {type(m) for m in seen}
    assert {Bridge.PoolUpdated, Bridge.ConsoleBatch, PoolTable.RowSelected} <= kinds
    await asyncio.sleep(0)
    assert not any(pid_alive(pid) for pid in pids)
    assert all(s.state is InstanceState.STOPPED for s in fleet.snapshot())


HOSTILE = [
    "[@click=app.quit]click me[/]",
    "\x1b]0;retitled\x07\x1b[2J\x1b[31mred",
    "csi\x9b6n del\x7f nul\x00",
    "[bold red]not markup[/bold red]",
]


async def test_hostile_console_is_inert(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=1, lines=HOSTILE))
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(100, 24)) as pilot:
        await until(pilot, lambda: states(app) == ["running"], 5)
        await pilot.press("enter")
        view = app.screen.query_one(ConsoleView)
        await until(pilot, lambda: view.line_count >= 4, 5)
        shown = view.plain_lines()
        assert shown[0] == "[@click=app.quit]click me[/]"
        assert shown[1] == "␛]0;retitled␇␛[2J␛[31mred"
        assert shown[2] == "csi\ufffd6n del\u2421 nul␀"
        assert shown[3] == "[bold red]not markup[/bold red]"
        # Clicking the would-be link does nothing: the app is still here.
        await pilot.click(ConsoleView, offset=(3, 0))
        await pilot.pause()
        assert app.is_running
        rendered = "".join(seg.text for seg in view.render_line(0))
        assert rendered.startswith("[@click=app.quit]click me[/]")
        await pilot.press("q", "q")


async def test_boot_failure_shows_in_table(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=2, fail=[1], lines=["hello {name}"]))
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(120, 24)) as pilot:
        await until(pilot, lambda: states(app) == ["running", "failed"], 5)
        table = app.screen.query_one(PoolTable)
        assert (table.get_cell("snap-1", "last").plain
                == "snap-1: scripted boot failure · B: boot output")
        assert table.get_cell("snap-0", "last").plain == "hello snap-0"
        # B on a failed row opens the console tail its BootError carried.
        await pilot.press("down", "B")
        assert isinstance(app.screen, TextScreen)
        assert app.screen.query_one(ConsoleView).plain_lines() == ["hello snap-1"]
        await pilot.press("q")
        assert isinstance(app.screen, PoolScreen)
        await pilot.press("up", "B")  # a running instance has none: a toast says so
        assert isinstance(app.screen, PoolScreen)
        await pilot.press("q")


@pytest.mark.guest
async def test_quit_while_booting_leaves_no_qemu(guest: Guest, workdir: Path) -> None:
    fleet = Fleet(demo_config(guest, count=2, workdir=workdir))
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(100, 24)) as pilot:
        await until(pilot, lambda: all((r.workdir / "qemu.cmdline").exists()
                                       for r in fleet.records.values()), 10)
        await pilot.pause(0.3)
        assert states(app) == ["booting", "booting"]
        pids = qemu_pids_in(workdir)
        assert len(pids) == 2
        await pilot.press("q")
    assert all(wait_dead(pid, 3) for pid in pids)

