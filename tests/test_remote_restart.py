"""A daemon restarted on the same workdir is another run: its version and stream
say which, its first snapshot says which instances it booted fresh, the pool
header and ``vmtui ctl status`` say so, and a client watching a console goes on
after the old run's lines with all of the new run's (never spliced at the old
cursor, though the new ring passed it before the client came back)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from tests.remote_helpers import Daemon, connected, ctl, scripted_yaml
from tests.remote_helpers import until as wait
from tests.test_app import until
from vmtui.app import VmtuiApp
from vmtui.backends.fleet.runs import previous_run
from vmtui.screens.instance import InstanceScreen
from vmtui.screens.pool import PoolScreen
from vmtui.widgets.console_view import ConsoleView

LINES = [f"line {i} of {{name}}" for i in range(40)]


def summary(app: VmtuiApp) -> str:
    return str(app.screen.query_one("#pool-summary", Static).render())


def status_line(app: VmtuiApp) -> str:
    return str(app.screen.query_one("#instance-status", Static).render())


async def test_a_restart_is_a_new_run_and_the_console_goes_on(tmp_path: Path) -> None:
    config = scripted_yaml(tmp_path / "again.yaml", "again", 2, tmp_path / "w", lines=LINES)
    d = Daemon(tmp_path, [config])
    d.start()
    try:
        # A long first wait before reconnecting: the new daemon's ring is past
        # the old cursor by then (the case a line count cannot tell).
        control = await connected(d, backoff=(4.0, 4.0))
        first = control.run
        assert first and control.pools()[0].run == first
        assert previous_run(tmp_path / "w") == first  # recorded for the next run
        assert control.pools()[0].previous_run == ""  # the first run on this workdir
        await wait(lambda: all(s.fresh for s in control.snapshot()), 10)
        app = VmtuiApp(control, boot=False)
        async with app.run_test(size=(120, 30)) as pilot:
            assert isinstance(app.screen, PoolScreen)
            await until(pilot, lambda: "instances" in summary(app), 5)
            assert "restarted" not in summary(app)
            await pilot.press("enter")
            screen = app.screen
            assert isinstance(screen, InstanceScreen)
            view = screen.query_one(ConsoleView)
            await until(pilot, lambda: view.plain_lines().count("line 39 of again-0") == 1, 5)
            # The console opens at its end (the newest lines), following them.
            assert view.following and view.scroll_y == view.max_scroll_y > 0

            assert d.stop() == 0
            # The instance screen says it is disconnected too (not only the pool's header).
            await until(pilot, lambda: "disconnected from unix:" in status_line(app), 5)
            assert "DISCONNECTED" in screen.title
            d.start()  # the same workdir: a new run
            second = await _new_run(d)
            await wait(lambda: control.run == second and control.connection() == "", 15)
            assert second != first
            await until(pilot, lambda: view.plain_lines().count("line 39 of again-0") == 2, 10)
            shown = view.plain_lines()
            # The old run's 40 lines, then every one of the new run's, in order.
            mine = [line for line in shown if line.endswith(" of again-0")]
            assert mine == [f"line {i} of again-0" for i in range(40)] * 2
            await until(pilot, lambda: "DISCONNECTED" not in screen.title, 5)
            assert "disconnected" not in status_line(app)
            # Still at the end (the status line shrank back: the view grew, not scrolled up).
            assert view.following and view.scroll_y == view.max_scroll_y

            await pilot.press("q")
            pools = control.pools()
            assert (pools[0].run, pools[0].previous_run) == (second, first)
            await until(pilot, lambda: "restarted" in summary(app), 5)
            assert (f"restarted: run {second} follows run {first} · 2 of 2 booted fresh "
                    "by this run") in summary(app)
            await pilot.press("q")
        await control.close()

        status = ctl(f"unix:{d.socket}", "status")
        assert status.returncode == 0, status.stderr
        rows = status.stdout.splitlines()
        assert rows[0].split() == ["NAME", "POOL", "STATE", "UPTIME", "LINES", "BOOT",
                                   "TITLE", "/", "ERROR"]
        assert [r.split()[5] for r in rows[1:3]] == ["fresh", "fresh"]
        assert rows[-1].startswith(f"restarted: run {second} follows run {first}")
    finally:
        d.stop()


async def _new_run(d: Daemon) -> str:
    """The new daemon's run id, read by a client of its own once its ring holds
    every line (the old client, still waiting out its backoff, is behind it)."""
    fresh = await connected(d)
    try:
        await wait(lambda: all(s.lines >= len(LINES) for s in fresh.snapshot()), 10)
        return fresh.run
    finally:
        await fresh.close()
