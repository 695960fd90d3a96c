"""Unique crashes of the pool: one row per title, its newest report on Enter."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header
from textual.widgets.data_table import ColumnKey

from vmtui.bridge import Bridge, Crash
from vmtui.widgets.inert import inert_text


def _when(epoch: float) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(epoch))


def _instances(names: list[str]) -> str:
    if not names:
        return "earlier runs"
    names = sorted(names)
    return ", ".join(names) if len(names) <= 3 else f"{', '.join(names[:2])} +{len(names) - 2}"



class CrashesScreen(Screen[None]):
    """Every unique crash title (syzkaller's crashes/ folder), the most recent first."""

    HELP_TITLE = "Keys: crashes"
    BINDINGS = [
        Binding("q,escape", "app.pop_screen", "Back"),
        Binding("enter", "open", "Newest report"),
        Binding("question_mark", "app.help", "Keys", key_display="?"),
    ]

    def __init__(self, bridge: Bridge) -> None:
        super().__init__()
        self.bridge = bridge
        self._shown: list[Crash] = []
        self._state: list[tuple[str, int]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable[Text](id="crashes", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "vmtui"
        self.sub_title = f"crashes of pool {self.bridge.pool.name}"
        table = self.query_one(DataTable)
        for label in ("Count", "First seen", "Last seen", "Instances"):
            table.add_column(label, key=label.lower())
        table.add_column("Title", key="title")
        self.refresh_list()
        self.call_after_refresh(self._fit_title)  # once the table has its size
        self.set_interval(1.0, self.refresh_list)
        table.focus()

    def refresh_list(self) -> None:
        crashes = self.bridge.crashes()
        state = [(str(c.folder), c.count) for c in crashes]
        if state == self._state:
            return
        self._shown, self._state = crashes, state
        table = self.query_one(DataTable)
        table.clear()
        for c in crashes:
            table.add_row(Text(str(c.count), justify="right"), Text(_when(c.first)),
                          Text(_when(c.last)), Text(_instances(c.instances), style="dim"),
                          inert_text(c.title, style="bold"), key=str(c.folder))
        self._fit_title()

    def on_resize(self) -> None:
        self._fit_title()

    def _fit_title(self) -> None:
        # The title takes what the other columns leave (the report has it whole),
        # so a long title never pushes the table into sideways scrolling.
        table = self.query_one(DataTable)
        used = sum(c.get_render_width(table) for c in table.columns.values()
                   if c.key != ColumnKey("title"))
        title = table.columns[ColumnKey("title")]
        title.auto_width = False
        title.width = max(12, table.size.width - used - 2 * table.cell_padding - 1)
        table.refresh()

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        crash = self._shown[table.cursor_row]
        try:
            text = crash.newest_report()
        except OSError as exc:
            self.notify(f"{crash.folder}: {exc}", severity="error")
            return
        from vmtui.screens.text import TextScreen

        self.app.push_screen(TextScreen(f"{crash.title} (newest report)", text.splitlines()))
