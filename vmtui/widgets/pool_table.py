"""The pool table: one row per instance, keyed by name, updated cell by cell."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from vmtui.backends.base import InstanceState
from vmtui.backends.fleet import InstanceSnapshot
from vmtui.widgets.inert import inert_text

COLUMNS = (("name", "Name"), ("state", "State"), ("uptime", "Uptime"),
           ("rate", "Lines/s"), ("last", "Last console line"))
FIXED_WIDTH = 50  # what the columns before "last" take, with padding


def format_uptime(seconds: float | None) -> str:
    """``1:02:03`` style uptime, or a dash."""
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class PoolTable(DataTable[Text]):
    """A DataTable of instance snapshots; Enter posts ``RowSelected``."""

    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {
        f"pool-table--{state.value}" for state in InstanceState
    }

    DEFAULT_CSS = """
    PoolTable > .pool-table--running { color: $success; text-style: bold; }
    PoolTable > .pool-table--booting { color: $warning; }
    PoolTable > .pool-table--crashed { color: $error; text-style: bold reverse; }
    PoolTable > .pool-table--lost { color: $error; text-style: bold; }
    PoolTable > .pool-table--failed { color: $error; }
    PoolTable > .pool-table--stopped { color: $text-muted; }
    PoolTable > .pool-table--offline { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._shown: dict[str, dict[str, str]] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def on_resize(self) -> None:
        # The last column takes what the others leave, so long console lines
        # never push the table into horizontal scrolling.
        column = self.columns.get(ColumnKey("last"))
        if column is not None:
            column.auto_width = False
            column.width = max(20, self.size.width - FIXED_WIDTH)
            self.refresh()

    def state_text(self, state: InstanceState) -> Text:
        style = self.get_component_rich_style(f"pool-table--{state.value}", partial=True)
        return Text(state.value, style=style)

    def cells(self, snap: InstanceSnapshot) -> dict[str, Text]:
        last = f"{snap.error}" if snap.error else snap.last_line
        return {
            "name": Text(snap.name),
            "state": self.state_text(snap.state),
            "uptime": Text(format_uptime(snap.uptime), justify="right"),
            "rate": Text(f"{snap.lines_per_sec:.0f}", justify="right"),
            "last": inert_text(last[:300], style="italic" if snap.error else ""),
        }

    def update_rows(self, snapshots: Sequence[InstanceSnapshot]) -> None:
        """Show ``snapshots``: new rows are added, changed cells rewritten."""
        with self.app.batch_update():
            for snap in snapshots:
                cells = self.cells(snap)
                plain = {k: v.plain + str(v.style) for k, v in cells.items()}
                shown = self._shown.get(snap.name)
                if shown is None:
                    self.add_row(*cells.values(), key=snap.name)
                else:
                    for key, value in cells.items():
                        if shown[key] != plain[key]:
                            self.update_cell(snap.name, key, value)
                self._shown[snap.name] = plain
