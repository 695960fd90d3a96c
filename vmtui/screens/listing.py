"""A screen that lists items in a table, refreshed when the bridge says they changed."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header

from vmtui.bridge import Bridge

T = TypeVar("T")


class ListingScreen(Screen[None], Generic[T]):
    """Rows of ``items()``; Enter calls ``open_item`` on the row under the cursor.

    Subclasses give the columns, the items, each item's row and row key, and
    what a change looks like (``state``): the table is rebuilt only then.
    """

    COLUMNS: tuple[str, ...] = ()
    bridge: Bridge  # set by the subclass
    BINDINGS = [
        Binding("q,escape", "app.pop_screen", "Back"),
        Binding("enter", "open", "Open"),
        Binding("question_mark", "app.help", "Keys", key_display="?"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._shown: list[T] = []
        self._state: list[Hashable] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable[Text](id="listing", cursor_type="row", zebra_stripes=True)
        yield Footer()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#listing", DataTable)

    def on_mount(self) -> None:
        # Textual also runs a subclass's own on_mount: it must not call this one.
        self.title = "vmtui"
        for label in self.COLUMNS:
            self.table.add_column(label, key=label.lower())
        self.refresh_list()
        self.table.focus()

    # Pushed like the pool: the bridge posts ListingChanged when the crash list
    # or an incident changed, to visible listings only.
    def on_screen_resume(self) -> None:
        self.bridge.subscribe_listing(self)
        self.refresh_list()  # what changed while it was hidden

    def on_screen_suspend(self) -> None:
        self.bridge.unsubscribe_listing(self)

    def on_unmount(self) -> None:
        self.bridge.forget(self)

    def on_bridge_listing_changed(self, message: Bridge.ListingChanged) -> None:
        self.refresh_list()

    def items(self) -> list[T]:
        raise NotImplementedError

    def state(self, item: T) -> Hashable:
        raise NotImplementedError

    def row(self, item: T) -> tuple[Sequence[Text], str]:
        """The cells of ``item`` and its row key."""
        raise NotImplementedError

    def open_item(self, item: T) -> None:
        raise NotImplementedError

    def refresh_list(self) -> None:
        if not self.table.columns:
            return  # not mounted yet: on_mount fills it
        items = self.items()
        state = [self.state(item) for item in items]
        if state == self._state:
            return
        self._shown, self._state = items, state
        table = self.table
        table.clear()
        for item in items:
            cells, key = self.row(item)
            table.add_row(*cells, key=key)
        self.rows_changed()

    def rows_changed(self) -> None:
        """Called after the rows were rebuilt."""

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        if self.table.row_count:
            self.open_item(self._shown[self.table.cursor_row])
