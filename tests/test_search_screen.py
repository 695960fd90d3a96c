"""The search-every-console screen on a scripted fleet (its real console logs on
disk, searched by the real engine): a snapshot, the flow F → regex → Enter →
the instance's console at that line, and clear errors for bad input."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from tests.test_snapshots import fixed_place_and_zone, make_app, settled
from vmtui.app import VmtuiApp
from vmtui.backends.console.timeindex import RECORD, encode
from vmtui.screens.instance import InstanceScreen
from vmtui.screens.search import SearchScreen, parse_when

__all__ = ["fixed_place_and_zone"]  # the autouse fixture: UTC, ./work


async def search_for(pilot: Pilot[Any], pattern: str, *, sources: str = "") -> None:
    await settled(pilot)
    await pilot.press("F")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, SearchScreen)
    await pilot.press(*pattern)
    if sources:
        screen.query_one("#search-sources").value = sources  # type: ignore[attr-defined]
    await pilot.press("enter")
    await screen.workers.wait_for_complete()
    await pilot.pause()


def status(app: VmtuiApp) -> str:
    return str(app.screen.query_one("#search-status", Static).render())


def test_search_screen(snap_compare: Any) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await search_for(pilot, "up|hostile|Linux")

    assert snap_compare(make_app(), terminal_size=(110, 24), run_before=run)


async def test_enter_opens_the_instance_at_the_line() -> None:
    app = make_app(lines=["alpha {name}", "needle {index}", "omega {name}", "needle {index}"])
    async with app.run_test(size=(120, 30)) as pilot:
        await search_for(pilot, "needle")
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        # Every instance printed them (the third before its boot failed by
        # config); the clock is fixed, so the time ties and the instance orders.
        assert [(h.instance, h.text) for h in screen.hits] == [
            ("snap-0", "needle 0"), ("snap-0", "needle 0"), ("snap-1", "needle 1"),
            ("snap-1", "needle 1"), ("snap-2", "needle 2"), ("snap-2", "needle 2")]
        assert status(app).startswith("6 hits ·")
        table = screen.query_one("#search-hits", DataTable)
        assert table.row_count == 6 and table.has_focus
        await pilot.press("down", "down", "enter")  # snap-1's first needle
        await pilot.pause()
        for _ in range(50):
            instance = app.screen
            if isinstance(instance, InstanceScreen) and instance.view.current_match is not None:
                break
            await pilot.pause(0.05)
        assert isinstance(instance, InstanceScreen) and instance.instance_name == "snap-1"
        view = instance.view
        # Both lines of that text highlight; the current one is the nearest in
        # time (the clock is fixed here: a tie, the first one wins).
        assert len(view.matches()) == 2
        assert view.current_match == view.matches()[0]
        assert view.plain_lines()[view.current_match] == "needle 1"  # none dropped: from 0
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, SearchScreen)  # back to the hits


async def test_bad_input_is_named_on_the_screen() -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await search_for(pilot, "boot (")
        assert "bad pattern 'boot ('" in status(app) and "regex parse error" in status(app)
        screen = app.screen
        screen.query_one("#search-since").value = "yesterday"  # type: ignore[attr-defined]
        screen.query_one("#search-pattern").focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "from: 'yesterday' is not a time" in status(app)
        screen.query_one("#search-since").value = ""  # type: ignore[attr-defined]
        screen.query_one("#search-pattern").value = "up, ssh"  # type: ignore[attr-defined]
        screen.query_one("#search-sources").value = "stdout"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await screen.workers.wait_for_complete()
        await pilot.pause()
        assert status(app).startswith("0 hits")


def test_parse_when() -> None:
    now = datetime(2026, 12, 4, 18, 30, 0).timestamp()
    assert parse_when("", now, "from") is None
    assert parse_when("15m", now, "from") == now - 900
    assert parse_when("2h", now, "from") == now - 7200
    assert parse_when("14:05", now, "to") == datetime(2026, 12, 4, 14, 5).timestamp()
    assert parse_when("2026-12-01 09:00:30", now, "to") == datetime(
        2026, 12, 1, 9, 0, 30).timestamp()
    with pytest.raises(ValueError, match="to: '25:99' is not a time"):
        parse_when("25:99", now, "to")


async def test_cells_are_never_read_as_markup() -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settled(pilot)
        # An index whose source says markup (the index is a file: never trusted).
        index = Path("work/run/snap-0/console.log.idx")
        raw = index.read_bytes()
        records = [raw[i:i + RECORD] for i in range(0, len(raw), RECORD)]
        index.write_bytes(b"".join(encode(int(r[:16], 16), float(r[17:34]), "[b]bold[/b]")
                                   for r in records))
        await search_for(pilot, "Linux version")
        table = app.screen.query_one("#search-hits", DataTable)
        cells = table.get_row_at(0)
        assert [c.plain for c in cells[1:3]] == ["snap-0", "[b]bold[/b]"]
