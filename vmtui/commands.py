"""Every vmtui action in Textual's command palette (Ctrl+P)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from vmtui.bridge import ACTIONS, HasBridge
from vmtui.messages import OpenInstance, ShowCrashes, ShowHelp, ShowSearch
from vmtui.screens.lifecycle import run_action


class VmtuiCommands(Provider):
    """Open, power down, reset, pause, resume, kill, restart, start, diagnose..."""

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app = self.app
        assert isinstance(app, HasBridge)  # the palette serves the vmtui app only
        bridge = app.bridge
        screen = app.screen
        post = app.post_message
        out: list[tuple[str, Callable[[], object], str]] = [
            ("Start all instances", partial(bridge.act_all, "boot"), "boot every stopped one"),
            ("Show keys", partial(post, ShowHelp()), "the help screen"),
            ("Show crashes", partial(post, ShowCrashes()), "unique crash titles of the pool (C)"),
            ("Search every console", partial(post, ShowSearch()),
             "a regex in every instance's console log on disk, merged by time (F)"),
        ]
        for name in bridge.names():
            out.append((f"Open {name}", partial(post, OpenInstance(name)), "its console"))
            for action, info in ACTIONS.items():
                out.append((f"{info.label} {name}",
                            partial(run_action, screen, bridge, action, name),
                            "asks first" if info.confirm else ""))
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
