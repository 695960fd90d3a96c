"""Lifecycle keys shared by the pool and instance screens."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.screen import Screen

from vmtui.bridge import ACTIONS, Action, Bridge, InstanceState, VMError
from vmtui.screens.confirm import ConfirmScreen

# Shown on the help screen and in the palette; the footer keeps to the basics.
LIFECYCLE_BINDINGS = [
    Binding("x", "lifecycle('powerdown')", "Power down", show=False),
    Binding("r", "lifecycle('reset')", "Reset", show=False),
    Binding("space", "toggle_pause", "Pause/resume", key_display="space", show=False),
    Binding("ctrl+k", "lifecycle('kill')", "Kill", show=False),
    Binding("R", "lifecycle('restart')", "Restart", key_display="R", show=False),
    Binding("b", "lifecycle('boot')", "Start", show=False),
    Binding("d", "diagnose('diagnose')", "Diagnose now", show=False),
]


def show_boot_output(screen: Screen[Any], bridge: Bridge, name: str | None) -> None:
    """Open the console tail of ``name``'s failed boot, if it left one."""
    if name is None:
        return

    async def show() -> None:
        try:
            lines = await bridge.boot_output(name)
        except VMError as exc:
            screen.notify(str(exc), severity="error")
            return
        if not lines:
            screen.notify(f"{name}: no failed boot with output to show")
            return
        from vmtui.screens.text import TextScreen

        screen.app.push_screen(TextScreen(f"{name}: console of the failed boot", lines))

    screen.run_worker(show(), group="boot-output", exit_on_error=False)


def run_action(screen: Screen[object], bridge: Bridge, action: str, name: str) -> None:
    """Run ``action`` on ``name``, asking first when it is destructive."""
    info = ACTIONS[Action(action)]
    label, confirm = info.label, info.confirm
    if not confirm:
        bridge.act(action, name)
        return

    def answered(yes: bool | None) -> None:
        if yes:
            bridge.act(action, name)

    screen.app.push_screen(ConfirmScreen(f"{label} {name}?"), answered)


class LifecycleMixin:
    """Needs ``bridge`` and ``selected_instance()`` on the screen."""

    bridge: Bridge

    def selected_instance(self) -> str | None:
        raise NotImplementedError

    def action_lifecycle(self, action: str) -> None:
        name = self.selected_instance()
        if name is not None:
            run_action(self, self.bridge, action, name)  # type: ignore[arg-type]

    def action_toggle_pause(self) -> None:
        name = self.selected_instance()
        if name is None:
            return
        paused = self.bridge.state(name) is InstanceState.PAUSED
        self.bridge.act("resume" if paused else "pause", name)

    def action_diagnose(self, action: str) -> None:
        name = self.selected_instance()
        if name is not None:
            self.bridge.diagnose(name, action)
