"""The pool screen: the table of every instance and a count per state."""

from __future__ import annotations

import collections

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from vmtui.backends.base import InstanceState
from vmtui.bridge import Bridge
from vmtui.widgets.pool_table import PoolTable


class PoolScreen(Screen[None]):
    """The first screen: what every instance of the pool is doing."""

    HELP_TITLE = "Keys: pool"
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "app.help", "Keys", key_display="?"),
    ]

    def __init__(self, bridge: Bridge) -> None:
        super().__init__()
        self.bridge = bridge

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="pool-summary")
        yield PoolTable(id="pool-table")
        yield Footer()

    def on_mount(self) -> None:
        pool = self.bridge.fleet.config.pool
        self.title = "vmtui"
        self.sub_title = f"pool {pool.name} · {pool.count} × {pool.type} · {pool.target}"
        self.query_one(PoolTable).focus()

    def on_screen_resume(self) -> None:
        self.bridge.subscribe_pool(self)

    def on_screen_suspend(self) -> None:
        self.bridge.unsubscribe_pool(self)

    def on_bridge_pool_updated(self, message: Bridge.PoolUpdated) -> None:
        table = self.query_one(PoolTable)
        table.update_rows(message.snapshots)
        counts = collections.Counter(s.state for s in message.snapshots)
        summary = Text(f" {len(message.snapshots)} instances  ")
        for state in InstanceState:
            if counts[state]:
                summary.append("● ", style=table.state_text(state).style)
                summary.append(f"{counts[state]} {state.value}  ")
        self.query_one("#pool-summary", Static).update(summary)

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        if message.row_key.value is not None:
            self.open_instance(message.row_key.value)

    def action_open(self) -> None:
        table = self.query_one(PoolTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
            if key.value is not None:
                self.open_instance(key.value)

    def open_instance(self, name: str) -> None:
        from vmtui.screens.instance import InstanceScreen

        self.app.push_screen(InstanceScreen(self.bridge, name))
