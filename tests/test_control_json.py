"""The front over a Control whose every call and answer went through JSON.

The next issues put the backends behind a socket: the whole front must work on
plain values. Here the app is driven through its flows (pool, crashes,
incidents, instance console, typing, inspector, diagnose, hold, VM snapshots,
saving, lifecycle keys) on a JsonControl over the scripted VM type.
"""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

from tests.flows import instance_flows
from tests.helpers import scripted_config
from tests.json_control import JsonControl, across, control_methods
from tests.test_app import states, until
from vmtui.app import VmtuiApp
from vmtui.backends.console.ring import ConsoleRing
from vmtui.backends.fleet.control import ConsoleChunk, InstanceSnapshot
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.fleets import Fleets
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.fleet.records import Counters
from vmtui.backends.fleet.wire import carried, error_from_json, error_to_json, to_json
from vmtui.backends.inert import GuestText
from vmtui.backends.monitor.evidence import Incident
from vmtui.backends.vm.errors import StateError
from vmtui.backends.vm.state import InstanceState
from vmtui.screens.crashes import CrashesScreen
from vmtui.screens.incidents import IncidentScreen, IncidentsScreen
from vmtui.screens.pool import PoolScreen
from vmtui.screens.text import TextScreen
from vmtui.widgets.console_view import ConsoleView

PANIC = "[    2.5] Kernel panic - not syncing: scripted panic"
PACKAGE = Path(__file__).resolve().parent.parent / "vmtui"


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, wherever the import stands (TYPE_CHECKING too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_bridge_holds_only_the_control_and_the_front_never_the_app() -> None:
    backends = {m for path in (PACKAGE / "bridge").glob("*.py") for m in imported(path)
                if m.startswith("vmtui.backends")}
    assert backends == {"vmtui.backends.fleet.control"}
    front = [PACKAGE / "commands.py", *sorted((PACKAGE / "screens").glob("*.py")),
             *sorted((PACKAGE / "widgets").glob("*.py"))]
    assert [p.name for p in front if "vmtui.app" in imported(p)] == []


def test_every_control_call_speaks_only_wire_types() -> None:
    methods = control_methods()
    assert {"snapshot", "console_since", "crash_report", "incident_file", "act",
            "hold", "take_snapshot", "type_into", "set_busy"} <= set(methods)
    for name, fn in methods.items():
        hints = typing.get_type_hints(fn)
        assert "return" in hints, f"{name}: no return annotation"
        for arg, tp in hints.items():
            assert carried(tp), f"Control.{name}: {arg} is {tp!r}, which JSON cannot carry"
    # The check can fail: what is live does not cross.
    assert not carried(ConsoleRing) and not carried(Fleet)
    with pytest.raises(TypeError):
        to_json(ConsoleRing())


def test_values_come_back_equal_and_typed() -> None:
    snap = InstanceSnapshot("a-0", 0, InstanceState.CRASHED, 1.5, 2.0, 3, GuestText("\x1b[1m"),
                            GuestText("boom"), Path("/w/a-0"), counters=Counters(rounds=2))
    back = across(snap, InstanceSnapshot)
    assert back == snap and back is not snap
    assert isinstance(back.workdir, Path) and isinstance(back.title, GuestText)
    assert back.state is InstanceState.CRASHED
    chunk = ConsoleChunk([(7, "console", "x", 1.0)], 2, 8, "$ ")
    assert across(chunk, ConsoleChunk).lines == [(7, "console", "x", 1.0)]  # tuples again
    assert across(b"\x00\xff", bytes) == b"\x00\xff"
    exc = error_from_json(error_to_json(StateError("snap-0: not running")))
    assert type(exc) is StateError and str(exc) == "snap-0: not running"
    gone = error_from_json(error_to_json(KeyError("snap-9")))  # no such instance or pool
    assert type(gone) is KeyError and gone.args == ("snap-9",)


def test_changes_count_new_and_finished_incidents_and_crashes(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=1))
    local = LocalControl(fleet)
    before = local.changes()
    assert local.changes() == before  # nothing happened: the same number
    incident = Incident("snap-0", "crash", GuestText("t"), 0.0, tmp_path / "i")
    fleet.incidents.append(incident)
    after_new = local.changes()
    assert after_new > before
    incident.complete = True
    assert local.changes() > after_new
    fleet.crashes.add("snap-0", "a title", b"log", "report")
    assert local.changes() > after_new + 1


async def test_the_front_flows_over_a_json_control(tmp_path: Path) -> None:
    crashy = Fleet(scripted_config(tmp_path / "c", count=1, name="crashy",
                                   lines=["boot", PANIC, "after"]))
    crashy.watch.after_seconds = 0
    calm = Fleet(scripted_config(tmp_path / "k", count=2, name="calm", fail=[1],
                                 lines=["hello {name}"]))
    local = LocalControl(Fleets([crashy, calm]))
    control = JsonControl(local)
    app = VmtuiApp(control, boot=False)  # type: ignore[arg-type]  # a Control by its calls
    async with app.run_test(size=(140, 36)) as pilot:
        # The crashes screen opened before the crash (no poll of its own):
        # the bridge pushes the change in.
        await pilot.press("C")
        assert isinstance(app.screen, CrashesScreen)
        assert app.screen.table.row_count == 0
        app.run_worker(control.start())
        await until(pilot, lambda: app.screen.table.row_count == 1, 5)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TextScreen), 5)
        assert any("scripted panic" in line
                   for line in app.screen.query_one(ConsoleView).plain_lines())
        await pilot.press("q", "q")
        assert isinstance(app.screen, PoolScreen)
        await until(pilot, lambda: states(app) == ["crashed", "running", "failed"], 5)

        # Incidents, and one incident's files (read through the Control).
        await until(pilot, lambda: bool(crashy.incidents) and crashy.incidents[0].complete, 5)
        await pilot.press("I")
        assert isinstance(app.screen, IncidentsScreen)
        await until(pilot, lambda: app.screen.table.row_count == 1, 5)
        await pilot.press("enter")
        assert isinstance(app.screen, IncidentScreen)
        await until(pilot, lambda: getattr(app.screen, "shown_file", "") == "report.txt", 5)
        assert app.screen.query_one(ConsoleView).plain_lines()[0] == \
            "title: kernel panic: scripted panic"
        await pilot.press("q", "q")

        # A failed boot's console tail.
        await pilot.press("down", "down", "B")
        await until(pilot, lambda: isinstance(app.screen, TextScreen), 5)
        assert app.screen.query_one(ConsoleView).plain_lines() == ["hello calm-1"]
        await pilot.press("q")

        # One pool's instances, on their own (what the daemon's listing renews).
        assert [s.name for s in control.pool_snapshot("calm")] == ["calm-0", "calm-1"]
        with pytest.raises(KeyError):
            control.pool_snapshot("nope")

        # The instance screen's flows, checked through the Control.
        await pilot.press("up")
        await instance_flows(pilot, app, control, "calm-0")  # type: ignore[arg-type]
        await pilot.press("q", "q")
    # Everything the front did went across the wire.
    assert {"pools", "snapshot", "console_start", "console_since", "crashes", "incidents",
            "changes", "crash_report", "incident_file", "boot_output", "inspect", "is_up",
            "type_into", "diagnose", "hold", "release", "take_snapshot", "restore_snapshot",
            "save_console", "act", "start", "close"} <= set(control.calls)
