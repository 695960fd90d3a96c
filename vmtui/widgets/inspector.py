"""The QMP inspector: tabs for Status, Block, PCI, CPUs and Snapshots, each a table."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, TabbedContent, TabPane

from vmtui.bridge import Table
from vmtui.widgets.inert import inert_text

TAB_TITLES = {"status": "Status", "block": "Block", "pci": "PCI", "cpus": "CPUs",
              "snapshots": "Snapshots"}


class Inspector(Vertical):
    """Tabs of tables; the screen fills the active tab while it is visible."""

    DEFAULT_CSS = """
    Inspector { height: 1fr; }
    Inspector TabbedContent { height: 1fr; }
    Inspector TabPane { padding: 0; }
    Inspector DataTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: dict[str, Table] = {}  # what each tab's table shows

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="tab-status"):
            for key, title in TAB_TITLES.items():
                with TabPane(title, id=f"tab-{key}"):
                    yield DataTable[Text](id=f"table-{key}", cursor_type="row",
                                          zebra_stripes=True)

    @property
    def current(self) -> str:
        """The key of the active tab ("status", "block", ...)."""
        return (self.query_one(TabbedContent).active or "tab-status").removeprefix("tab-")

    def selected_row(self, tab: str) -> tuple[str, ...] | None:
        """The cells of the highlighted row of ``tab`` (plain text), if it has rows."""
        view = self.query_one(f"#table-{tab}", DataTable)
        if not view.row_count or len(view.columns) < 2:
            return None
        return tuple(str(cell) for cell in view.get_row_at(view.cursor_row))

    def show_tab(self, tab: str) -> None:
        """Switch to ``tab``."""
        self.query_one(TabbedContent).active = f"tab-{tab}"

    def show(self, tab: str, table: Table) -> None:
        """Replace the rows of ``tab`` (values from guests and QEMU are made inert)."""
        if self._shown.get(tab) == table:
            return  # the same answer as a second ago: nothing to redraw
        self._shown[tab] = table
        view = self.query_one(f"#table-{tab}", DataTable)
        labels = tuple(str(c.label) for c in view.columns.values())
        if labels != table.columns:
            view.clear(columns=True)
            view.add_columns(*table.columns)
        else:
            view.clear()
        for row in table.rows:
            view.add_row(*(inert_text(cell) for cell in row))
