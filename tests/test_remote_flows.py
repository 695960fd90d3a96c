"""The whole front on a RemoteControl over a real daemon (``vmtui serve`` in a
subprocess, scripted pools): tests/test_control_json.py's flows, crossing a
socket instead of a JSON copy; two clients on one daemon; quitting a client
leaves every VM running."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flows import instance_flows
from tests.remote_helpers import connected, daemon, scripted_yaml
from tests.remote_helpers import states as remote_states
from tests.remote_helpers import until as wait
from tests.test_app import states, until
from vmtui.app import VmtuiApp
from vmtui.screens.confirm import ConfirmScreen
from vmtui.screens.crashes import CrashesScreen
from vmtui.screens.incidents import IncidentScreen, IncidentsScreen
from vmtui.screens.pool import PoolScreen
from vmtui.screens.text import TextScreen
from vmtui.widgets.console_view import ConsoleView
from vmtui.widgets.pool_table import PoolTable

PANIC = "[    2.5] Kernel panic - not syncing: scripted panic"


def pools(tmp_path: Path) -> list[Path]:
    return [scripted_yaml(tmp_path / "crashy.yaml", "crashy", 1, tmp_path / "c",
                          lines=["boot", PANIC, "after"]),
            scripted_yaml(tmp_path / "calm.yaml", "calm", 2, tmp_path / "k",
                          lines=["hello {name}"], fail=[1])]


async def test_the_front_flows_over_a_daemon(tmp_path: Path) -> None:
    with daemon(tmp_path, pools(tmp_path)) as d:
        control = await connected(d)
        await wait(lambda: remote_states(control) == {
            "crashy-0": "crashed", "calm-0": "running", "calm-1": "failed"}, 10)
        app = VmtuiApp(control, boot=False)  # what `vmtui attach` runs
        async with app.run_test(size=(140, 36)) as pilot:
            # The crash list and a report, read from the daemon.
            await pilot.press("C")
            assert isinstance(app.screen, CrashesScreen)
            await until(pilot, lambda: app.screen.table.row_count == 1, 5)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, TextScreen), 5)
            assert any("scripted panic" in line
                       for line in app.screen.query_one(ConsoleView).plain_lines())
            await pilot.press("q", "q")
            assert isinstance(app.screen, PoolScreen)
            assert states(app) == ["crashed", "running", "failed"]

            # Incidents (the list comes again when the stream says it changed).
            await until(pilot, lambda: any(i.complete for i in control.incidents()), 10)
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

            # One pool's instances, on their own, from the mirror.
            assert [s.name for s in control.pool_snapshot("calm")] == ["calm-0", "calm-1"]
            with pytest.raises(KeyError):
                control.pool_snapshot("nope")

            # The instance screen's flows (the console streamed), through the daemon.
            await pilot.press("up")
            await instance_flows(pilot, app, control, "calm-0")
            await pilot.press("q", "q")  # back, then quit: no question in attach mode
            await pilot.pause(0.2)
        assert app.return_code == 0
        # Quitting the client stopped nothing: another client sees the same states.
        other = await connected(d)
        assert remote_states(other) == {"crashy-0": "crashed", "calm-0": "running",
                                        "calm-1": "failed"}
        assert control.connection() != ""  # closed: this client only
        await other.close()


async def test_two_clients_see_the_same_instance_change(tmp_path: Path) -> None:
    config = scripted_yaml(tmp_path / "two.yaml", "two", 2, tmp_path / "w",
                           lines=["hello {name}"])
    with daemon(tmp_path, [config]) as d:
        watcher = await connected(d)  # the headless client
        app = VmtuiApp(await connected(d), boot=False)
        async with app.run_test(size=(120, 30)) as pilot:
            await until(pilot, lambda: states(app) == ["running", "running"], 10)
            # The pilot's client powers two-1 down; the other one sees it.
            await pilot.press("down", "x")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait(lambda: remote_states(watcher)["two-1"] == "stopped", 10)
            # The other client starts it again; the pilot's pool table shows it.
            await watcher.act("boot", "two-1")  # type: ignore[arg-type]
            await until(pilot, lambda: states(app) == ["running", "running"], 10)
            table = app.screen.query_one(PoolTable)
            assert table.get_cell("two-1", "state").plain == "running"
        await watcher.close()
