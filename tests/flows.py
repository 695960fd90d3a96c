"""The front's flows on one instance, driven by keys and checked through the
Control only, so the same steps prove a JsonControl (tests/test_control_json.py)
and a RemoteControl on a real daemon (tests/test_remote_flows.py)."""

from __future__ import annotations

from textual.pilot import Pilot

from tests.test_app import until
from tests.test_app_flows import table_text
from vmtui.app import VmtuiApp
from vmtui.backends.fleet.control import Control
from vmtui.screens.confirm import ConfirmScreen
from vmtui.screens.instance import InstanceScreen
from vmtui.widgets.console_view import ConsoleView
from vmtui.widgets.inspector import Inspector


def _snap(control: Control, name: str) -> tuple[str, bool]:
    snap = next(s for s in control.snapshot() if s.name == name)
    return snap.state.value, snap.held


async def instance_flows(pilot: Pilot[None], app: VmtuiApp, control: Control,
                         name: str) -> None:
    """From the pool screen with ``name`` under the cursor (a running instance
    of a scripted pool that echoes what is typed): the console, typing, the
    inspector, diagnose, hold and release, VM snapshots, saving the console,
    pause, resume, power down and start again. Ends on the instance screen."""
    await pilot.press("enter")
    screen = app.screen
    assert isinstance(screen, InstanceScreen) and screen.instance_name == name
    view = screen.query_one(ConsoleView)
    await until(pilot, lambda: f"hello {name}" in view.plain_lines(), 5)
    await pilot.press("a", *"typed", "enter", "ctrl+right_square_bracket")
    await until(pilot, lambda: "typed" in view.plain_lines(), 5)
    inspector = screen.query_one(Inspector)
    await until(pilot, lambda: "running" in table_text(inspector, "status"), 5)
    inspector.show_tab("cpus")
    await until(pilot, lambda: table_text(inspector, "cpus").startswith("0 "), 5)

    # Diagnose, hold and release.
    await pilot.press("d")
    await until(pilot, lambda: any(i.kind == "diagnose" and i.instance == name
                                   for i in control.incidents()), 10)
    await pilot.press("h")
    await until(pilot, lambda: _snap(control, name)[1], 5)
    await until(pilot, lambda: "held · gdb " in str(screen._status), 5)
    await pilot.press("y")  # the gdb command, copied
    assert "target remote" in (app.clipboard or "")
    await pilot.press("h")
    await until(pilot, lambda: not _snap(control, name)[1], 5)

    # VM snapshots: take one (in a worker), restore it from the Snapshots tab.
    await pilot.press("S")
    for _ in range(50):
        if await control.vm_snapshots(name):
            break
        await pilot.pause(0.1)
    await pilot.press("L")
    await until(pilot, lambda: inspector.current == "snapshots"
                and inspector.selected_row("snapshots") is not None, 5)
    await pilot.press("L")
    assert isinstance(app.screen, ConfirmScreen)
    await pilot.press("y")
    await until(pilot, lambda: any(line.startswith("[scripted] back at snapshot")
                                   for line in view.plain_lines()), 5)

    # Saving the console: the path comes back as a value (the daemon's, here
    # the same machine).
    await pilot.press("s")
    await until(pilot, lambda: hasattr(screen, "saved_to"), 5)
    assert f"hello {name}" in screen.saved_to.read_text().splitlines()

    # Lifecycle keys: pause, resume, power down (confirmed), start again.
    await pilot.press("space")
    await until(pilot, lambda: _snap(control, name)[0] == "paused", 5)
    await pilot.press("space")
    await until(pilot, lambda: _snap(control, name)[0] == "running", 5)
    await pilot.press("x")
    assert isinstance(app.screen, ConfirmScreen)
    await pilot.press("y")
    await until(pilot, lambda: _snap(control, name)[0] == "stopped", 10)
    await pilot.press("b")
    await until(pilot, lambda: _snap(control, name)[0] == "running", 5)
