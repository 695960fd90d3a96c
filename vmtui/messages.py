"""Navigation as Textual messages: a screen or the command palette asks, the App
answers (``on_open_instance``...). Nothing in the front calls up into the App."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class OpenInstance(Message):
    """Show the instance screen of ``name`` (its console and inspectors); with
    ``at_time``, the console line ``at_text`` written then is highlighted
    (a hit of the search across consoles)."""

    name: str
    at_time: float | None = None
    at_text: str = ""


class ShowSearch(Message):
    """Show the search across every console (unless it is already shown)."""


class ShowCrashes(Message):
    """Show the unique crashes of every pool (unless they are already shown)."""


class ShowHelp(Message):
    """Show the keys of the screen in front (unless help is already shown)."""
