"""Incidents: the list of crashes, verdicts and diagnoses, and one incident's files."""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList

from vmtui.bridge import Bridge, Incident, VMError
from vmtui.screens.listing import ListingScreen
from vmtui.widgets.console_view import ConsoleView, shown
from vmtui.widgets.inert import inert_text


class IncidentsScreen(ListingScreen[Incident]):
    """Every incident of the pool (or of one instance), newest first."""

    HELP_TITLE = "Keys: incidents"
    COLUMNS = ("Time", "Instance", "Kind", "Title", "Folder")

    def __init__(self, bridge: Bridge, instance: str | None = None) -> None:
        super().__init__()
        self.bridge = bridge
        self.instance = instance

    def on_mount(self) -> None:
        self.sub_title = f"incidents{' of ' + self.instance if self.instance else ''}"

    def items(self) -> list[Incident]:
        return self.bridge.incidents(self.instance)

    def state(self, item: Incident) -> Hashable:
        return (item.folder, item.status)

    def row(self, item: Incident) -> tuple[Sequence[Text], str]:
        stamp = time.strftime("%H:%M:%S", time.localtime(item.time))
        kind = item.kind if item.complete else f"{item.kind} ({item.status})"
        return (Text(stamp), Text(item.instance), inert_text(kind), inert_text(item.title),
                Text(str(item.folder), style="dim")), str(item.folder)

    def open_item(self, item: Incident) -> None:
        self.app.push_screen(IncidentScreen(self.bridge, item))


class IncidentScreen(Screen[None]):
    """One incident: its files on the left, the chosen one on the right (inert)."""

    BINDINGS = [Binding("q,escape", "app.pop_screen", "Back")]
    DEFAULT_CSS = """
    IncidentScreen OptionList { width: 26; }
    IncidentScreen ConsoleView { width: 1fr; }
    """

    def __init__(self, bridge: Bridge, incident: Incident) -> None:
        super().__init__()
        self.bridge = bridge
        self.incident = incident

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield OptionList(*self.incident.files, id="files")
            yield ConsoleView(max_lines=100000, id="file")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "vmtui"
        self.sub_title = f"{self.incident.instance}: {self.incident.title}"
        files = self.incident.files
        if files:
            first = files.index("report.txt") if "report.txt" in files else 0
            self.query_one(OptionList).highlighted = first  # shows it
            self.show(files[first])

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.show(str(event.option.prompt))

    def show(self, name: str) -> None:
        self.run_worker(self._show(name), group="file", exclusive=True, exit_on_error=False)

    async def _show(self, name: str) -> None:
        try:
            text = await self.bridge.incident_file(self.incident, name)
        except VMError as exc:
            text = f"(cannot read {name}: {exc})"
        view = self.query_one(ConsoleView)
        view.clear()
        now = time.time()
        view.write_lines([shown("console", line, now) for line in text.splitlines()])
        view.scroll_home(animate=False)
        view.following = False
        self.shown_file = name
