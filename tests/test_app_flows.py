"""App flows with run_test() and a message hook: on a real guest, and scripted edge cases."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from pathlib import Path

import pytest
from textual.message import Message
from textual.widgets import DataTable, Input

from tests.conftest import guest_config
from tests.helpers import scripted_config
from tests.test_app import states, until
from vmtui.app import VmtuiApp
from vmtui.backends.console.ring import TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.vm.state import InstanceState
from vmtui.bridge import Bridge
from vmtui.guest.build import Guest
from vmtui.screens.confirm import ConfirmScreen
from vmtui.screens.instance import InstanceScreen
from vmtui.widgets.console_view import PAINT_INTERVAL, ConsoleView
from vmtui.widgets.inspector import Inspector
from vmtui.widgets.pool_table import PoolTable


def rows(app: VmtuiApp) -> list[str]:
    table = app.screen.query_one(PoolTable)
    return [str(table.coordinate_to_cell_key((i, 0)).row_key.value)
            for i in range(table.row_count)]


async def test_filter_and_sort_the_pool(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=3, fail=[1], lines=["hello {name}"]))
    app = VmtuiApp(LocalControl(fleet))
    seen: list[Message] = []
    async with app.run_test(size=(100, 24), message_hook=seen.append) as pilot:
        await until(pilot, lambda: sorted(states(app)) == ["failed", "running", "running"], 5)
        await pilot.press("slash", *"snap-2")
        await until(pilot, lambda: rows(app) == ["snap-2"], 3)
        await pilot.press("escape")
        await until(pilot, lambda: rows(app) == ["snap-0", "snap-1", "snap-2"], 3)
        await pilot.press("S")  # sort by state: trouble first
        await until(pilot, lambda: rows(app)[0] == "snap-1", 3)
        table = app.screen.query_one(PoolTable)
        assert table.selected() == "snap-2"  # the cursor stays on its instance
        await pilot.press("up", "up")
        await pilot.press("enter")
        assert isinstance(app.screen, InstanceScreen)
        assert app.screen.instance_name == "snap-1"
        await pilot.press("q", "q")
    kinds = {type(m) for m in seen}
    assert {Input.Changed, Bridge.PoolUpdated, DataTable.RowSelected} <= kinds


@pytest.mark.guest
async def test_operator_flow_on_a_real_guest(guest: Guest, workdir: Path) -> None:
    fleet = Fleet(guest_config(guest, workdir))
    app = VmtuiApp(LocalControl(fleet))
    seen: list[Message] = []
    async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
        await until(pilot, lambda: states(app) == ["running"], 150)
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, InstanceScreen)
        view = screen.query_one(ConsoleView)

        # Attach, type a command into the guest's serial shell, see its output.
        await pilot.press("a")
        assert view.attached
        await pilot.press(*"echo attach-$((3+4))", "enter")
        await until(pilot, lambda: "attach-7" in view.plain_lines(), 10)
        await pilot.press("q")  # typed into the guest, not "back"
        assert app.screen is screen
        await pilot.press("backspace", "ctrl+right_square_bracket")
        assert not view.attached

        # Search and save.
        await pilot.press("slash", *"attach-[0-9]", "enter")
        assert view.current_match is not None
        await pilot.press("s")
        await until(pilot, lambda: hasattr(screen, "saved_to"), 5)  # written in a worker
        saved = screen.saved_to
        assert "attach-7" in saved.read_text().splitlines()

        # Inspectors with real QMP data.
        inspector = screen.query_one(Inspector)
        await until(pilot, lambda: "running" in table_text(inspector, "status"), 5)
        inspector.show_tab("cpus")
        await until(pilot, lambda: table_text(inspector, "cpus").startswith("0 "), 5)

        # A diagnose button: SysRq w through the emulated keyboard.
        await pilot.click("#diag-sysrq-w")
        await until(pilot, lambda: any("sysrq: Show Blocked State" in t
                                       for t in view.plain_lines()), 15)

        # Lifecycle keys: pause and resume, then power down with confirmation.
        await pilot.press("space")
        await until(pilot, lambda: fleet.snapshot()[0].state is InstanceState.PAUSED, 5)
        await pilot.press("space")
        await until(pilot, lambda: fleet.snapshot()[0].state is InstanceState.RUNNING, 5)
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: fleet.snapshot()[0].state is InstanceState.STOPPED, 40)
        events = [t for t in view.plain_lines() if re.fullmatch(r"(STOP|RESUME|POWERDOWN)", t)]
        assert events[:3] == ["STOP", "RESUME", "POWERDOWN"]
        await pilot.press("q", "q")
    kinds = {type(m) for m in seen}
    assert {ConsoleView.Input, ConsoleView.Detached, Bridge.ConsoleBatch} <= kinds


def table_text(inspector: Inspector, tab: str) -> str:
    table = inspector.query_one(f"#table-{tab}", DataTable)
    return "\n".join(" ".join(str(c) for c in table.get_row_at(i))
                     for i in range(table.row_count))


HOSTILE = [
    b"\x1b]0;retitled\x07\x1b[2J\x1b[H\x1b[31mred",
    b"[@click=app.quit]click[/] [bold]not markup[/bold]",
    b"bad utf-8 \xff\xfe\xc3( end",
    b"nul\x00 and csi \xc2\x9b6n and del \x7f",
    b"A" * (1 << 20),
]


async def test_hostile_bytes_stay_inert(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=1))
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: states(app) == ["running"], 5)
        console = fleet.record("snap-0").console
        assert console is not None
        merger = console.merger
        for raw in HOSTILE:
            merger.feed("console", raw + b"\n")
        await pilot.press("enter")
        view = app.screen.query_one(ConsoleView)
        await until(pilot, lambda: view.line_count >= 4 + 16, 5)
        shown = view.plain_lines()
        assert shown[0] == "␛]0;retitled␇␛[2J␛[H␛[31mred"
        assert shown[1] == "[@click=app.quit]click[/] [bold]not markup[/bold]"
        assert shown[2] == "bad utf-8 \ufffd\ufffd\ufffd( end"
        assert shown[3] == "nul␀ and csi \ufffd6n and del \u2421"
        assert "".join(shown[4:]) == "A" * (1 << 20)  # cut in 64 KiB pieces, all kept
        screen_text = app.export_screenshot()
        assert "\x1b" not in screen_text and "\x9b" not in screen_text
        assert "snap-0" in screen_text and app.is_running
        assert (fleet.record("snap-0").console_log.read_bytes()
                .count(b"\xff\xfe\xc3(")) == 1  # raw bytes on disk
        await pilot.press("q", "q")


async def test_crash_incident_on_screen(tmp_path: Path) -> None:
    lines = ["boot", "[    2.5] Kernel panic - not syncing: scripted panic", "after"]
    fleet = Fleet(scripted_config(tmp_path, count=1, lines=lines))
    fleet.watch.after_seconds = 0
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: states(app) == ["crashed"], 5)
        table = app.screen.query_one(PoolTable)
        assert table.get_cell("snap-0", "last").plain == \
            "kernel panic: scripted panic"
        await until(pilot, lambda: bool(fleet.incidents) and fleet.incidents[0].complete, 5)
        await pilot.press("I")
        await pilot.pause(1.2)
        await pilot.press("enter")
        from vmtui.screens.incidents import IncidentScreen

        assert isinstance(app.screen, IncidentScreen)
        await until(pilot, lambda: getattr(app.screen, "shown_file", "") == "report.txt", 5)
        shown = app.screen.query_one(ConsoleView).plain_lines()
        assert shown[0] == "title: kernel panic: scripted panic"
        await pilot.press("q", "q", "q")


async def test_a_flood_is_shown_at_a_steady_rate_and_its_last_line_lands(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=1))
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: states(app) == ["running"], 5)
        await pilot.press("enter")
        view = app.screen.query_one(ConsoleView)
        await until(pilot, lambda: view.size.height > 0 and view._paint_timer is None, 3)
        painted: list[float] = []
        original = view._paint_all
        view._paint_all = lambda: (painted.append(time.monotonic()), original())[1]  # type: ignore[method-assign]
        console = fleet.record("snap-0").console
        assert console is not None
        merger = console.merger
        start = time.monotonic()
        for i in range(30):  # 30 batches within about half a second
            merger.feed("console", b"".join(b"flood %d.%d\n" % (i, j) for j in range(50)))
            await asyncio.sleep(0.015)
        await until(pilot, lambda: "29.49" in app.export_screenshot(), 3)
        # Batches came every ~15 ms; the view repainted for them at most every 100 ms.
        assert painted, "a flood is painted by the rate-limited repaint"
        gaps = [b - a for a, b in itertools.pairwise(painted)]
        assert all(gap >= PAINT_INTERVAL * 0.9 for gap in gaps)
        assert len(painted) <= (time.monotonic() - start) / PAINT_INTERVAL + 1
        assert view.shown_lines()[-1] == "flood 29.49"


class Inbox:
    """A subscriber that only collects what the bridge posts."""

    def __init__(self) -> None:
        self.batches: list[Bridge.ConsoleBatch] = []

    def post_message(self, message: Bridge.ConsoleBatch) -> bool:
        self.batches.append(message)
        return True


def test_the_next_batch_goes_when_the_screen_takes_the_last(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=1))
    bridge = Bridge(None, LocalControl(fleet))  # type: ignore[arg-type]  # no timers: no polls
    ring = fleet.console("snap-0")
    ring.append("console", "before", 0.0)
    inbox = Inbox()
    bridge.subscribe_console(inbox, "snap-0")  # type: ignore[arg-type]
    assert [[line[TEXT] for line in b.lines] for b in inbox.batches] == [["before"]]
    ring.extend("console", ["while", "in flight"], 0.0)
    bridge.push_consoles()  # a poll while the batch is unacknowledged sends nothing
    assert len(inbox.batches) == 1
    inbox.batches[0].ack()  # taken: what came meanwhile goes at once
    assert [line[TEXT] for line in inbox.batches[1].lines] == ["while", "in flight"]
    inbox.batches[1].ack()  # nothing new: the next poll will send
    assert len(inbox.batches) == 2
    ring.append("console", "later", 0.0)
    bridge.push_consoles()
    assert [line[TEXT] for line in inbox.batches[2].lines] == ["later"]


async def test_snapshot_keys_take_and_restore_with_confirmation(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=1, lines=["boot"]))
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: states(app) == ["running"], 5)
        await pilot.press("enter")
        assert isinstance(app.screen, InstanceScreen)
        snaps = fleet.vm_snapshots("snap-0")
        await pilot.press("S")
        await until(pilot, lambda: bool(app.screen.query_one(Inspector)) and
                    bool(snapshot_tags(fleet)), 5)
        [tag] = snapshot_tags(fleet)
        assert tag.startswith("snap-")
        await pilot.press("L")  # no row picked yet: the Snapshots tab opens
        inspector = app.screen.query_one(Inspector)
        await until(pilot, lambda: inspector.current == "snapshots"
                    and inspector.selected_row("snapshots") is not None, 5)
        await pilot.press("L")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        view = app.screen.query_one(ConsoleView)
        await until(pilot, lambda: f"[scripted] back at snapshot {tag}" in view.plain_lines(), 5)
        assert [s.tag for s in await snaps.snapshots()] == [tag]


def snapshot_tags(fleet: Fleet) -> list[str]:
    inst = fleet.instance("snap-0")
    return list(getattr(inst, "_snapshots", {}))
