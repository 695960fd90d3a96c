"""Incidents: the list of crashes, verdicts and diagnoses, and one incident's files."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, OptionList

from vmtui.bridge import Bridge, Incident
from vmtui.widgets.console_view import ConsoleView, shown
from vmtui.widgets.inert import inert_text


class IncidentsScreen(Screen[None]):
    """Every incident of the pool (or of one instance), newest first."""

    HELP_TITLE = "Keys: incidents"
    BINDINGS = [
        Binding("q,escape", "app.pop_screen", "Back"),
        Binding("enter", "open", "Open"),
        Binding("question_mark", "app.help", "Keys", key_display="?"),
    ]

    def __init__(self, bridge: Bridge, instance: str | None = None) -> None:
        super().__init__()
        self.bridge = bridge
        self.instance = instance
        self._shown: list[Incident] = []
        self._state: list[tuple[object, str]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable[Text](id="incidents", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "vmtui"
        self.sub_title = f"incidents{' of ' + self.instance if self.instance else ''}"
        table = self.query_one(DataTable)
        table.add_columns("Time", "Instance", "Kind", "Title", "Folder")
        self.refresh_list()
        self.set_interval(1.0, self.refresh_list)

    def refresh_list(self) -> None:
        incidents = self.bridge.incidents(self.instance)
        state: list[tuple[object, str]] = [(i.folder, i.status) for i in incidents]
        if state == self._state:
            return
        self._shown, self._state = incidents, state
        table = self.query_one(DataTable)
        table.clear()
        for i in incidents:
            stamp = time.strftime("%H:%M:%S", time.localtime(i.time))
            kind = i.kind if i.complete else f"{i.kind} ({i.status})"
            table.add_row(Text(stamp), Text(i.instance), inert_text(kind), inert_text(i.title),
                          Text(str(i.folder), style="dim"), key=str(i.folder))

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            self.app.push_screen(IncidentScreen(self._shown[table.cursor_row]))


class IncidentScreen(Screen[None]):
    """One incident: its files on the left, the chosen one on the right (inert)."""

    BINDINGS = [Binding("q,escape", "app.pop_screen", "Back")]
    DEFAULT_CSS = """
    IncidentScreen OptionList { width: 26; }
    IncidentScreen ConsoleView { width: 1fr; }
    """

    def __init__(self, incident: Incident) -> None:
        super().__init__()
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
        view = self.query_one(ConsoleView)
        view.clear()
        try:
            text = self.incident.read(name)
        except OSError as exc:
            text = f"(cannot read {name}: {exc})"
        now = time.time()
        view.write_lines([shown("console", line, now) for line in text.splitlines()])
        view.scroll_home(animate=False)
        view.following = False
        self.shown_file = name
