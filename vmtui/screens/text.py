"""A read-only page of guest text (a failed boot's console tail, a crash report), inert."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header

from vmtui.widgets.console_view import ConsoleView, shown


class TextScreen(Screen[None]):
    """Lines in a console view (searchable as any console); q goes back.

    ``top``: open at the first line (a report is read from its start), not
    following the end as a console does.
    """

    BINDINGS = [Binding("q,escape", "app.pop_screen", "Back")]

    def __init__(self, title: str, lines: list[str], *, top: bool = False) -> None:
        super().__init__()
        self._title = title
        self._lines = lines
        self._top = top

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConsoleView(max_lines=max(100, len(self._lines)), id="text")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "vmtui"
        self.sub_title = self._title
        now = time.time()
        view = self.query_one(ConsoleView)
        view.write_lines([shown("console", line, now) for line in self._lines])
        if self._top:
            view.following = False
            view.scroll_home(animate=False)
        view.focus()
