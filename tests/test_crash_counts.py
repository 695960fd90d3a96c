"""Crash counts across runs (#23): 300 crashes of one title, 100 logs kept, 300
counted after a restart, on the Crashes screen too."""

from __future__ import annotations

import time
from pathlib import Path

from textual.widgets import DataTable

from tests.helpers import scripted_config
from vmtui.app import VmtuiApp
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.monitor.crashes import CrashStore
from vmtui.screens.crashes import CrashesScreen


def _when(epoch: float) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(epoch))


async def test_the_crashes_screen_counts_what_earlier_runs_saw(tmp_path: Path) -> None:
    earlier = CrashStore(tmp_path / "crashes")  # an earlier run of the same pool
    for i in range(300):
        earlier.add("snap-0", "WARNING in qux", b"l", "r", when=1_700_000_000.0 + 60 * i)
    fleet = Fleet(scripted_config(tmp_path, count=1))
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.press("C")
        assert isinstance(app.screen, CrashesScreen)
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1
        count, first, last, instances, title = (str(c) for c in table.get_row_at(0))
        assert (count, title, instances) == ("300", "WARNING in qux", "earlier runs")
        assert (first, last) == (_when(1_700_000_000.0), _when(1_700_000_000.0 + 60 * 299))
        await pilot.press("q", "q")
