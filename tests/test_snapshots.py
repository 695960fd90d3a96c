"""SVG snapshots of every screen and inspector tab, deterministic: scripted VMs
(canned QMP answers), a fixed clock, a workdir relative to the test's own
folder (the same text in every run, and parallel runs never share it), UTC."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.helpers import fleets_of, scripted_config
from vmtui.app import VmtuiApp
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.vm.state import InstanceState

SIZES = [(80, 24), (160, 48)]
BOOT = [
    "[    0.000000] Linux version 6.1.0-test (scripted) #1 SMP",
    "[    0.000000] Command line: console=ttyS0",
    "[    1.250000] Run /init as init process",
    "\x1b[31m[@click=app.quit]hostile[/] \x9b6n\x7f",
    "{name}: up, ssh on port 22",
]


@pytest.fixture(autouse=True)
def fixed_place_and_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times render in UTC and the workdir is ./work of the test's own folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def make_app(lines: list[str] | None = None, workload: dict[str, Any] | None = None,
             fail: tuple[int, ...] = (2,)) -> VmtuiApp:
    config = scripted_config(Path("work"), count=3, fail=list(fail), lines=lines or BOOT,
                             name="snap", base_dir=Path("."), workload=workload)
    fleet = Fleet(config, clock=lambda: 1000.0, wallclock=lambda: 0.0, run_name="run")
    fleet.watch.after_seconds = 0
    return VmtuiApp(LocalControl(fleet))


async def settled(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, VmtuiApp)
    while any(s.state is InstanceState.BOOTING for s in app.bridge.snapshot()):
        await pilot.pause(0.05)
    for fleet in fleets_of(app).fleets:  # one pool, or several shown together
        await fleet.watch.settle()
    app.bridge.push_pool()
    app.bridge.push_consoles()
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


def steps(*keys: str, then: Callable[[Pilot[Any]], Awaitable[None]] | None = None
          ) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        for key in keys:
            await pilot.press(key)
            await settled(pilot)
        if then is not None:
            await then(pilot)
            await settled(pilot)
    return run


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_pool_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=steps())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("tab", ["status", "block", "pci", "cpus"])
def test_instance_inspector_tab(snap_compare: Any, size: tuple[int, int], tab: str) -> None:
    async def show(pilot: Pilot[Any]) -> None:
        screen = pilot.app.screen
        inspector = screen.query_one("#inspector")
        inspector.display = True
        inspector.show_tab(tab)  # type: ignore[attr-defined]
        await pilot.pause()
        screen.refresh_inspector()  # type: ignore[attr-defined]
        await screen.workers.wait_for_complete()  # the query runs in a worker
        await pilot.pause()
        screen.query_one("#console").refresh(layout=True)  # its scrollbars for the new width
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=steps("enter", then=show))


def test_instance_snapshots_tab(snap_compare: Any) -> None:
    async def show(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, VmtuiApp)
        for tag in ("booted", "before-fuzz"):
            await fleets_of(app).fleets[0].vm_snapshots("snap-0").take_snapshot(tag)
        screen = app.screen
        inspector = screen.query_one("#inspector")
        inspector.display = True
        inspector.show_tab("snapshots")  # type: ignore[attr-defined]
        await pilot.pause()
        screen.refresh_inspector()  # type: ignore[attr-defined]
        await screen.workers.wait_for_complete()  # the query runs in a worker
        await pilot.pause()
        screen.query_one("#console").refresh(layout=True)  # its scrollbars for the new width
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(120, 30),
                        run_before=steps("enter", then=show))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_on_pool(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=steps("question_mark"))


def test_help_on_instance(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(100, 40),
                        run_before=steps("enter", "question_mark"))


def test_confirm_kill(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steps("ctrl+k"))


def test_attached_console(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(100, 24), run_before=steps("enter", "a"))


def test_search_highlights(snap_compare: Any) -> None:
    keys = ("enter", "slash", *"0\\.0+", "enter")
    assert snap_compare(make_app(), terminal_size=(100, 24), run_before=steps(*keys))


def test_pool_filter(snap_compare: Any) -> None:
    keys = ("slash", *"fail", "enter")
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steps(*keys))


def test_new_lines_banner(snap_compare: Any) -> None:
    many = [f"line {i:03d}" for i in range(60)]

    async def scroll_up_and_add(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, VmtuiApp)
        await pilot.press("home")
        view = app.screen.query_one("#console")
        view.scroll_home(animate=False)  # type: ignore[attr-defined]
        await pilot.pause()
        for i in range(7):
            fleets_of(app).fleets[0].console("snap-0").append("console", f"late line {i}", 0.0)

    assert snap_compare(make_app(many), terminal_size=(80, 24),
                        run_before=steps("enter", then=scroll_up_and_add))


CRASH = [*BOOT[:3], "[    2.500000] Kernel panic - not syncing: scripted panic in {name}",
         "[    2.600000] ---[ end Kernel panic - not syncing: scripted panic ]---"]


def test_crashed_pool(snap_compare: Any) -> None:
    assert snap_compare(make_app(CRASH), terminal_size=(120, 24), run_before=steps())


def test_incidents_screen(snap_compare: Any) -> None:
    assert snap_compare(make_app(CRASH), terminal_size=(120, 24), run_before=steps("I"))


def test_incident_viewer(snap_compare: Any) -> None:
    assert snap_compare(make_app(CRASH), terminal_size=(120, 24),
                        run_before=steps("I", "enter"))


# Each instance of a farm crashes once and is left so (restart: never): two
# share a title, the third has its own.
FARM = {"run": "echo round {round} of {name}; if {index} 0 panic same fault; "
               "if {index} 1 panic same fault; if {index} 2 panic a fault of its own",
        "restart": "never", "backoff": 0}


async def farm_settled(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, VmtuiApp)
    fleet = fleets_of(app).fleets[0]
    while sum(len(c.instances) for c in fleet.crashes.all()) < 3 or any(
            r.phase != "left as it is (restart: never)" for r in fleet.records.values()):
        await pilot.pause(0.05)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_crashes_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await farm_settled(pilot)
        await steps("C")(pilot)

    assert snap_compare(make_app(BOOT[:3], FARM, fail=()), terminal_size=size, run_before=run)


def test_farm_pool_screen(snap_compare: Any) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await farm_settled(pilot)
        await steps()(pilot)

    assert snap_compare(make_app(BOOT[:3], FARM, fail=()), terminal_size=(160, 24),
                        run_before=run)


def test_farm_instance_screen(snap_compare: Any) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await farm_settled(pilot)
        await steps("enter")(pilot)

    assert snap_compare(make_app(BOOT[:3], FARM, fail=()), terminal_size=(140, 30),
                        run_before=run)
