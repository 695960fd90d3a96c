"""Every vmtui action in Textual's command palette (Ctrl+P)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from vmtui.bridge import ACTIONS
from vmtui.screens.lifecycle import run_action

if TYPE_CHECKING:
    from vmtui.app import VmtuiApp


class VmtuiCommands(Provider):
    """Open, power down, reset, pause, resume, kill, restart, start, diagnose..."""

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app: VmtuiApp = self.app  # type: ignore[assignment]
        bridge = app.bridge
        screen = app.screen
        out: list[tuple[str, Callable[[], object], str]] = [
            ("Start all instances", partial(bridge.act_all, "boot"), "boot every stopped one"),
            ("Show keys", app.action_help, "the help screen"),
            ("Show crashes", app.action_crashes, "unique crash titles of the pool (C)"),
        ]
        for name in bridge.names():
            out.append((f"Open {name}", partial(app.open_instance, name), "its console"))
            for action, (_, label, confirm) in ACTIONS.items():
                out.append((f"{label} {name}", partial(run_action, screen, bridge, action, name),
                            "asks first" if confirm else ""))
            out.append((f"Diagnose {name}", partial(bridge.diagnose, name, "diagnose"),
                        "the OS's default diagnose set"))
        return out

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> AsyncIterator[Hit]:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
