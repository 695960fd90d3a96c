"""The vmtui Textual app: thin; the screens and the bridge do the work."""

from __future__ import annotations

import asyncio
import gc
import signal
from functools import partial

from textual.app import App
from textual.content import Content
from textual.notifications import SeverityLevel
from textual.worker import Worker, WorkerState

from vmtui.bridge import Bridge, Control, GuestText
from vmtui.commands import VmtuiCommands
from vmtui.messages import OpenInstance, ShowCrashes, ShowHelp, ShowSearch
from vmtui.screens.confirm import ConfirmScreen
from vmtui.screens.help import HelpScreen, key_table
from vmtui.screens.pool import PoolScreen


def calm_collector() -> None:
    """Keep the cyclic garbage collector from stalling the screen.

    Everything made so far lives as long as the app: frozen, the collector
    stops walking it. A screen renders through thousands of short-lived
    Strips; a larger young generation lets most die before a collection sees
    them, and full collections (tens of milliseconds: a key press waits)
    come ten times less often. Memory stays bounded: they still come.
    """
    gc.freeze()
    gc.set_threshold(10000, 10, 100)


class QuitScreen(ConfirmScreen):
    """Quit while VMs run (and stop them)?"""


class VmtuiApp(App[int]):
    """Watch and handle a pool of test VMs.

    Args:
        control: the pools to show (not yet started), in this process
            (``LocalControl``) or behind a socket: the app cannot tell.
        boot: boot the pools on start (tests showing a prepared fleet say False).
        confirm_quit: quitting stops the VMs (the pools are in this process): ``q``
            asks first while some run. A client of a daemon quits at once (its VMs go on).
    """

    CSS_PATH = "vmtui.tcss"
    TITLE = "vmtui"
    COMMANDS = App.COMMANDS | {VmtuiCommands}

    def __init__(self, control: Control, *, boot: bool = True,
                 confirm_quit: bool = False) -> None:
        super().__init__()
        self.bridge = Bridge(self, control)
        self._boot = boot
        self._confirm_quit = confirm_quit

    def on_mount(self) -> None:
        calm_collector()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            # As for Ctrl+C: the fleet is closed (no VM left, runtime folder
            # removed) and the terminal restored on the way out.
            loop.add_signal_handler(sig, partial(self.exit, return_code=128 + sig))
        self.bridge.start(boot=self._boot)
        self.push_screen(PoolScreen(self.bridge))

    async def action_quit(self) -> None:
        running = self.bridge.running() if self._confirm_quit else 0
        if not running:
            await self.bridge.close()
            self.exit(0)
            return
        if isinstance(self.screen, QuitScreen):
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit(0)  # unmounting closes the bridge: no VM is left

        self.push_screen(QuitScreen(f"{running} VM{'s are' if running != 1 else ' is'} "
                                    "running; quitting stops them. Quit?\n"
                                    "tip: vmtui serve keeps them running"), answered)

    async def on_unmount(self) -> None:
        # However the app ends, no VM process outlives it.
        await self.bridge.close()

    # -- navigation: the screens and the palette post messages, handled here ----

    def action_help(self) -> None:
        self.post_message(ShowHelp())

    def action_crashes(self) -> None:
        self.post_message(ShowCrashes())

    def action_search_consoles(self) -> None:
        self.post_message(ShowSearch())

    def on_show_search(self, message: ShowSearch) -> None:
        from vmtui.screens.search import SearchScreen

        if not isinstance(self.screen, SearchScreen):
            self.push_screen(SearchScreen(self.bridge))

    def on_show_help(self, message: ShowHelp) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        title = getattr(self.screen, "HELP_TITLE", "Keys")
        self.push_screen(HelpScreen(key_table(self.screen), title))

    def on_show_crashes(self, message: ShowCrashes) -> None:
        from vmtui.screens.crashes import CrashesScreen

        if not isinstance(self.screen, CrashesScreen):
            self.push_screen(CrashesScreen(self.bridge))

    def on_open_instance(self, message: OpenInstance) -> None:
        from vmtui.screens.instance import InstanceScreen

        at = None if message.at_time is None else (message.at_time, message.at_text)
        self.push_screen(InstanceScreen(self.bridge, message.name, at=at))

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every toast, from any screen: made inert and never read as markup.

        Messages quote errors and titles that may hold guest text; a toast is
        plain text whatever its caller asked.
        """
        safe = "\n".join(GuestText(line) for line in str(message).split("\n"))
        super().notify(safe, title=GuestText(title), severity=severity, timeout=timeout,
                       markup=False)

    def format_title(self, title: str, sub_title: str) -> Content:
        """The header's title, made inert (a sub-title may name a crash)."""
        return super().format_title(GuestText(title), GuestText(sub_title))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # One place turns every failed backend call into a notification.
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.notify(f"{event.worker.name}: {event.worker.error}", severity="error",
                        timeout=8)
