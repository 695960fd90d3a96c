"""``vmtui screenshot``: boot a pool headless, save one screen as SVG, exit."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from vmtui.app import VmtuiApp
from vmtui.bridge import Control, InstanceState
from vmtui.messages import OpenInstance


class ScreenshotError(Exception):
    """The screen asked for does not exist."""


def take(control: Control, screen: str, out: Path, size: tuple[int, int],
         timeout: float) -> None:
    """Boot ``control``'s pools in a headless app, wait until no instance is booting
    (or ``timeout``), show ``screen`` ("pool" or "instance:NAME"), write the SVG.

    Raises:
        ScreenshotError: ``screen`` names no screen or no instance.
    """
    instance = None
    if screen.startswith("instance:"):
        instance = screen.partition(":")[2]
    app = VmtuiApp(control)
    if instance is not None:
        if instance not in app.bridge.names():
            known = ", ".join(app.bridge.names())
            raise ScreenshotError(f"no instance {instance!r} in the pool (known: {known})")
    elif screen != "pool":
        raise ScreenshotError(f"unknown screen {screen!r}: use pool or instance:NAME")

    async def pilot(pilot: Pilot[Any]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
                s.state in (InstanceState.OFFLINE, InstanceState.BOOTING)
                for s in app.bridge.snapshot()):
            await pilot.pause(0.2)
        await pilot.pause(1.0)  # let the console settle and the rates update
        if instance is not None:
            app.post_message(OpenInstance(instance))
            await pilot.pause(0.5)
        app.bridge.push_pool()
        app.bridge.push_consoles()
        await pilot.pause(0.3)
        await pilot.wait_for_scheduled_animations()
        out.write_text(app.export_screenshot(title="vmtui"))
        await app.action_quit()

    app.run(headless=True, size=size, auto_pilot=pilot)
