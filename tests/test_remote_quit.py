"""Quitting: the in-process app asks first while VMs run (quitting stops them);
an attached client never asks (its VMs go on; see test_remote_flows)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from tests.helpers import scripted_config
from tests.test_app import states, until
from vmtui.app import QuitScreen, VmtuiApp
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.screens.pool import PoolScreen


async def test_q_asks_while_vms_run(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=2, lines=["hello {name}"]))
    app = VmtuiApp(LocalControl(fleet), confirm_quit=True)  # as `vmtui CONFIG` runs it
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: states(app) == ["running", "running"], 5)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        question = str(app.screen.query_one(Static).render())
        assert question == ("2 VMs are running; quitting stops them. Quit?\n"
                            "tip: vmtui serve keeps them running")
        await pilot.press("q")  # a second q does not stack a second question
        assert sum(isinstance(s, QuitScreen) for s in app.screen_stack) == 1
        await pilot.press("n")
        assert isinstance(app.screen, PoolScreen) and app.is_running
        assert states(app) == ["running", "running"]
        await pilot.press("q", "y")
        await pilot.pause(0.2)
    assert app.return_code == 0
    assert all(fleet.instance(n) is None for n in ("snap-0", "snap-1"))  # stopped


async def test_q_quits_at_once_when_nothing_runs(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=1, fail=[0]))
    app = VmtuiApp(LocalControl(fleet), confirm_quit=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: states(app) == ["failed"], 5)
        await pilot.press("q")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, QuitScreen)
    assert app.return_code == 0
