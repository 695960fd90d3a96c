"""The daemon goes away and comes back: the client says it is disconnected
(never the last state as live), reconnects by itself, shows live data again."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from tests.remote_helpers import connected, daemon, scripted_yaml
from tests.remote_helpers import until as wait
from tests.test_app import states, until
from vmtui.app import VmtuiApp
from vmtui.screens.instance import InstanceScreen
from vmtui.screens.pool import PoolScreen
from vmtui.widgets.console_view import ConsoleView


def header(app: VmtuiApp) -> str:
    screen = app.screen
    assert isinstance(screen, PoolScreen)
    summary = str(screen.query_one("#pool-summary", Static).render())
    return f"{screen.title}\n{summary}"


async def test_disconnected_then_back_by_itself(tmp_path: Path) -> None:
    config = scripted_yaml(tmp_path / "back.yaml", "back", 2, tmp_path / "w",
                           lines=["hello {name}"])
    with daemon(tmp_path, [config]) as d:
        control = await connected(d, backoff=(0.1, 0.5))
        app = VmtuiApp(control, boot=False)
        async with app.run_test(size=(120, 30)) as pilot:
            await until(pilot, lambda: states(app) == ["running", "running"], 10)
            assert "DISCONNECTED" not in header(app)
            await pilot.press("down", "x", "y")  # back-1 stopped: the new daemon boots it
            await until(pilot, lambda: states(app) == ["running", "stopped"], 10)

            assert d.stop() == 0
            await until(pilot, lambda: "DISCONNECTED" in header(app), 5)
            shown = header(app)
            assert "disconnected from unix:" in shown
            assert "the table shows the last state seen" in shown
            # It keeps trying meanwhile, and keeps saying so.
            await pilot.pause(1.0)
            assert "DISCONNECTED" in header(app)

            d.start()
            await wait(lambda: control.connection() == "", 15)
            await until(pilot, lambda: "DISCONNECTED" not in header(app), 5)
            # Live again: the new daemon booted both (the table follows), and
            # the console streams from the new daemon.
            await until(pilot, lambda: states(app) == ["running", "running"], 10)
            assert control.reconnects >= 1
            await pilot.press("up", "enter")
            screen = app.screen
            assert isinstance(screen, InstanceScreen)
            view = screen.query_one(ConsoleView)
            await control.type_into("back-0", b"after the restart\r")
            await until(pilot, lambda: "after the restart" in view.plain_lines(), 5)
            await pilot.press("q", "q")
