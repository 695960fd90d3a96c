"""A real guest behind a daemon: an attached client sees it reach running, and
what it types into the guest's serial shell comes back on its screen."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.remote_helpers import connected, daemon
from tests.test_app import states, until
from vmtui.app import VmtuiApp
from vmtui.demo import demo_dict
from vmtui.guest.build import Guest
from vmtui.screens.instance import InstanceScreen
from vmtui.widgets.console_view import ConsoleView


@pytest.mark.guest
async def test_a_client_types_into_a_real_guest(guest: Guest, tmp_path: Path) -> None:
    data = demo_dict(guest, count=1, workdir=tmp_path / "w")
    data["name"] = "far"
    config = tmp_path / "far.yaml"
    config.write_text(yaml.safe_dump(data))
    with daemon(tmp_path, [config]) as d:
        app = VmtuiApp(await connected(d), boot=False)
        async with app.run_test(size=(140, 40)) as pilot:
            await until(pilot, lambda: states(app) == ["running"], 180)
            # This daemon run booted the QEMU, and counted what its serial printed.
            snap = app.bridge.snapshot()[0]
            assert snap.fresh and snap.console_bytes > 1000
            await pilot.press("enter")
            screen = app.screen
            assert isinstance(screen, InstanceScreen)
            view = screen.query_one(ConsoleView)
            await pilot.press("a", *"uname -a", "enter", "ctrl+right_square_bracket")
            await until(pilot, lambda: any(line.startswith("Linux ") and "x86_64" in line
                                           for line in view.plain_lines()), 30)
            await pilot.press("q", "q")
        assert app.return_code == 0
    assert d.proc is not None and d.proc.returncode == 0
    # The daemon stopped its QEMU on SIGTERM: nothing of this pool is left.
    assert processes_naming(tmp_path) == []


def processes_naming(folder: Path) -> list[str]:
    """Pids of the processes whose command line names ``folder``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        if str(folder) in cmdline:
            found.append(proc.name)
    return found
