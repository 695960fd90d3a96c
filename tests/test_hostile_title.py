"""A hostile guest cannot reach the terminal: its crash title, shown on every screen.

The text a guest prints after ``Kernel panic - not syncing:`` carries OSC 0
(window title), OSC 52 (clipboard), an OSC 8 link to /etc/passwd, the codes
that leave the alternate screen and turn the mouse off, a bidi override and
an 8-bit CSI, invisible characters (format characters, separators, tag
characters, a Hangul filler, a variation selector) and a carriage return
that would hide the start of the line. Every screen and every place such a
string appears is driven and what Textual would write to the terminal is
checked: only Textual's own cursor moves and colours may remain, and the
text before the carriage return is shown.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from tests.helpers import scripted_config
from tests.test_app import states, until
from vmtui.app import VmtuiApp
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.vm.errors import VMError
from vmtui.screens.help import HelpScreen
from vmtui.screens.incidents import IncidentScreen, IncidentsScreen
from vmtui.screens.instance import InstanceScreen
from vmtui.screens.pool import PoolScreen
from vmtui.screens.text import TextScreen

EVIL = ("\x1b]0;PWNED-TITLE\x07"  # OSC 0: the terminal's title
        "\x1b]52;c;cHduZWQ=\x07"  # OSC 52: the clipboard
        "\x1b]8;;file:///etc/passwd\x1b\\open me\x1b]8;;\x1b\\"  # OSC 8: a link
        "\x1b[?1049l\x1b[?1000l"  # leave the alternate screen, mouse off
        "\u202eevil\u202c \x9b31m [@click=app.quit]x[/]"
        # Invisible: U+061C, word joiner, invisible times, line and paragraph
        # separators, soft hyphen, tags, a Hangul filler, a variation selector.
        "\u061c\u2060\u2062\u2028\u2029\u00ad\U000e0001\U000e0041\u3164\ufe0f"
        "\rCOVER")  # a terminal would show only what follows the CR
PANIC = f"[    2.500000] Kernel panic - not syncing: {EVIL}"

# What Textual itself writes: SGR colours and attributes, absolute cursor moves.
TEXTUAL_OWN = re.compile(r"\x1b\[[0-9;:]*m|\x1b\[\d+;\d+H|\x1b\[\d*[ABCDGJK]")
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u200b-\u200f\u2028-\u202e"
                       "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\U000e0000-\U000e01ef]")


def terminal_output(app: VmtuiApp) -> str:
    """What the app writes to the terminal for a full repaint of its screen stack."""
    update = app.screen._compositor.render_update(full=True,
                                                  screen_stack=app._background_screens)
    assert update is not None
    return update.render_segments(app.console)  # type: ignore[union-attr]


def assert_inert(app: VmtuiApp, where: str) -> str:
    out = terminal_output(app)
    rest = TEXTUAL_OWN.sub("", out)
    bad = FORBIDDEN.search(rest)
    assert bad is None, f"{where}: {bad.group()!r} reached the terminal near " \
                        f"{rest[max(0, bad.start() - 40):bad.end() + 40]!r}"
    return out


async def shown(pilot: Pilot[object], cond: Callable[[], bool]) -> None:
    await until(pilot, cond, 5)
    await pilot.pause()


async def test_a_hostile_title_stays_inert_on_every_screen(tmp_path: Path) -> None:
    config = scripted_config(tmp_path, count=2, fail=[1], name="evil",
                             lines=["[    0.000000] Linux version 6.1", PANIC])
    fleet = Fleet(config)
    fleet.watch.after_seconds = 0
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: states(app) == ["crashed", "failed"], 5)
        await fleet.watch.settle()
        # The title is syzkaller's, tidied (controls dropped, cut at 120 bytes); the
        # raw line, escapes, markup and all, is still shown as the last line.
        title = fleet.record("evil-0").title
        assert title.startswith("kernel panic: ]NUM;PWNED-TITLE")
        assert not FORBIDDEN.search(title)
        app.bridge.push_pool()
        await pilot.pause()
        out = assert_inert(app, "pool table")
        assert "evil-0" in out and "PWNED-TITLE" in out

        await pilot.press("slash", *"evil")  # the pool filter, title still shown
        await pilot.pause()
        assert_inert(app, "pool filter")
        await pilot.press("escape")

        await pilot.press("B", "down", "B")  # a toast (running row), then the boot output
        await shown(pilot, lambda: isinstance(app.screen, TextScreen))
        assert_inert(app, "boot output")
        await pilot.press("q")

        await pilot.press("up", "enter")  # the instance: status line with the title
        await shown(pilot, lambda: isinstance(app.screen, InstanceScreen))
        app.bridge.push_pool()
        app.bridge.push_consoles()
        await pilot.pause()
        out = assert_inert(app, "instance screen")
        assert "PWNED-TITLE" in out
        assert "Kernel panic - not syncing: ␛]0;PWNED" in out  # the console line

        # A failure quoting the guest becomes a toast.
        async def fails() -> None:
            raise VMError(f"evil-0: diagnose failed: {EVIL}")

        app.bridge._work(fails(), "diagnose:evil-0", None)
        app.notify(f"direct: {EVIL}", title=EVIL)
        await until(pilot, lambda: len(app._notifications) >= 2, 5)
        await pilot.pause(0.3)
        assert_inert(app, "toasts")

        await pilot.press("question_mark")
        await shown(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert_inert(app, "help")
        await pilot.press("escape")

        await pilot.press("ctrl+p")
        await pilot.press(*"evil")
        await pilot.pause(0.5)
        assert_inert(app, "command palette")
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("I")  # the incidents list, then one incident's viewer
        await shown(pilot, lambda: isinstance(app.screen, IncidentsScreen))
        out = assert_inert(app, "incident list")
        assert "PWNED-TITLE" in out
        await pilot.press("enter")
        await shown(pilot, lambda: isinstance(app.screen, IncidentScreen))
        out = assert_inert(app, "incident viewer")  # the header names the title
        assert "report.txt" in out
        await pilot.press("q", "q", "q")
        await shown(pilot, lambda: isinstance(app.screen, PoolScreen))
        assert_inert(app, "pool again")
        await pilot.press("q")
    assert time.time()  # the app ended normally, the terminal never left its screen


def test_the_check_would_catch_a_raw_title() -> None:
    # The same rendering path with the guard gone lets the sequences through.
    assert FORBIDDEN.search(TEXTUAL_OWN.sub("", f"\x1b[1;1H\x1b[31m{EVIL}\x1b[0m"))


async def test_a_carriage_return_hides_nothing_on_any_screen(tmp_path: Path) -> None:
    # What a terminal would overwrite (the start of the line) is shown with a
    # stand-in for the CR: in the pool table's last line, the console, a toast.
    hiding = "[    1.000000] secret start\r\u2060[    1.000000] harmless end"
    shown_as = "[    1.000000] secret start␍\ufffd[    1.000000] harmless end"
    fleet = Fleet(scripted_config(tmp_path, count=1, name="cr", lines=[hiding]))
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: states(app) == ["running"], 5)
        await until(pilot, lambda: fleet.record("cr-0").ring.next_seq > 0, 5)
        app.bridge.push_pool()
        await pilot.pause()
        assert shown_as in assert_inert(app, "pool table")
        await pilot.press("enter")
        await shown(pilot, lambda: isinstance(app.screen, InstanceScreen))
        app.bridge.push_consoles()
        await pilot.pause()
        assert shown_as in assert_inert(app, "instance screen")
        app.notify(hiding, title=hiding)
        await until(pilot, lambda: len(app._notifications) >= 1, 5)
        await pilot.pause(0.3)
        assert shown_as in assert_inert(app, "toast")
        await pilot.press("q", "q")
