"""The pool table: one row per instance, keyed by name, updated cell by cell."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from vmtui.bridge import InstanceSnapshot, InstanceState
from vmtui.widgets.inert import inert_text

COLUMNS = (("name", "Name"), ("state", "State"), ("uptime", "Uptime"),
           ("rate", "Lines/s"), ("hung", "Hung in"), ("last", "Last console line / title"))
# With a workload, before the last column: the farm loop's counters.
FARM_COLUMNS = (("round", "Round"), ("crashes", "Crashes"), ("boots", "Boots"))
FARM_WIDTH = 25
STATE_ORDER = {state: i for i, state in enumerate((
    InstanceState.CRASHED, InstanceState.LOST, InstanceState.FAILED, InstanceState.PAUSED,
    InstanceState.BOOTING, InstanceState.RUNNING, InstanceState.STOPPED,
    InstanceState.OFFLINE))}
# How each sortable column orders instances (trouble first for state).
SORT_KEYS: dict[str, Callable[[InstanceSnapshot], Any]] = {
    "name": lambda s: s.index,
    "state": lambda s: (STATE_ORDER[s.state], s.index),
    "uptime": lambda s: (-(s.uptime or 0.0), s.index),
    "rate": lambda s: (-s.lines_per_sec, s.index),
}
FIXED_WIDTH = 62  # what the columns before "last" take, with padding


def format_uptime(seconds: float | None) -> str:
    """``1:02:03`` style uptime, or a dash."""
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def format_coarse(seconds: float | None, *, last_minute: bool = False) -> str:
    """``17m``, ``3h05m`` (``<1m`` in the first minute, or the seconds with
    ``last_minute``, for a countdown about to strike): a table of many
    instances changes once a minute per row, not every second."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s" if last_minute else "<1m"
    if s < 3600:
        return f"{s // 60}m"
    return f"{s // 3600}h{s // 60 % 60:02d}m"


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

    def __init__(self, *, farm: bool = False, pools: dict[str, str] | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.farm = farm
        columns = COLUMNS[:-1] + FARM_COLUMNS + COLUMNS[-1:] if farm else COLUMNS
        # Several pools shown together: a Pool column (with the host) after the name.
        self.pools = pools or {}
        self._pool_width = 0
        if len(self.pools) > 1:
            columns = (columns[0], ("pool", "Pool"), *columns[1:])
            self._pool_width = max(map(len, self.pools.values())) + 2
        self._columns = columns
        self.pool_view: str | None = None  # show only this pool's instances
        self._shown: dict[str, dict[str, str]] = {}
        self._snaps: dict[str, InstanceSnapshot] = {}
        self._looked: dict[str, tuple[Any, ...]] = {}  # what each row showed last
        self._order: list[str] = []  # the rows' order last sorted
        self.filter_text = ""
        self.sort_key = "name"

    def on_mount(self) -> None:
        for key, label in self._columns:
            self.add_column(label, key=key)

    def on_resize(self) -> None:
        # The last column takes what the others leave, so long console lines
        # never push the table into horizontal scrolling.
        column = self.columns.get(ColumnKey("last"))
        if column is not None:
            column.auto_width = False
            column.width = max(20, self.size.width - FIXED_WIDTH
                               - (FARM_WIDTH if self.farm else 0) - self._pool_width)
            self.refresh()

    def state_text(self, state: InstanceState) -> Text:
        style = self.get_component_rich_style(f"pool-table--{state.value}", partial=True)
        return Text(state.value, style=style)

    def cells(self, snap: InstanceSnapshot) -> dict[str, Text]:
        last: str = snap.error or snap.fault or snap.last_line
        if snap.boot_output:
            last = f"{last} · B: boot output"

        state = self.state_text(snap.state)
        if snap.held:
            state.append(" held", style="bold")
        hung = Text(format_coarse(snap.hung_in, last_minute=True), justify="right")
        if snap.hung_in is not None and snap.hung_in < 60:
            hung.stylize(self.get_component_rich_style("pool-table--crashed", partial=True))
        cells = {
            "name": Text(snap.name),
            "pool": Text(self.pools.get(snap.pool, snap.pool), style="dim"),
            "state": state,
            "uptime": Text(format_coarse(snap.uptime), justify="right"),
            "rate": Text(f"{snap.lines_per_sec:.0f}", justify="right"),
            "hung": hung,
            "last": inert_text(last[:300], style="bold" if snap.title else
                               "italic" if snap.error or snap.fault else ""),
        }
        if self.farm and snap.counters is not None:
            counters = snap.counters
            # The round going on, else the rounds done (and what the loop does).
            now = snap.phase.removeprefix("round ") if snap.phase.startswith("round ") else None
            cells["round"] = Text(now or str(counters.rounds), justify="right",
                                  style="" if now else "dim")
            cells["crashes"] = Text(str(counters.crashes), justify="right",
                                    style="bold" if counters.crashes else "")
            cells["boots"] = Text(str(counters.boots), justify="right")
            if snap.phase and not snap.phase.startswith("round ") and not snap.title:
                cells["last"] = inert_text(f"{snap.phase} · {last}"[:300], style="italic")
        return {key: cells[key] for key, _ in self._columns}  # in the columns' order

    def selected(self) -> str | None:
        """The name of the instance under the cursor."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    def set_filter(self, text: str) -> None:
        """Show only instances whose name, state or last line holds ``text``."""
        self.filter_text = text

    def sort_by(self, key: str) -> None:
        self.sort_key = key

    def _order_key(self) -> Callable[[InstanceSnapshot], Any]:
        """The sort key; by name, pools keep the order they were given in."""
        key = SORT_KEYS[self.sort_key]
        if self.sort_key != "name" or len(self.pools) < 2:
            return key
        rank = {pool: i for i, pool in enumerate(self.pools)}
        return lambda s: (rank.get(s.pool, 0), key(s))

    def view_pool(self, pool: str | None) -> None:
        """Show one pool's instances (None: every pool's)."""
        self.pool_view = pool

    def _matches(self, snap: InstanceSnapshot) -> bool:
        if self.pool_view is not None and snap.pool != self.pool_view:
            return False
        needle = self.filter_text.lower()
        return not needle or any(needle in field.lower() for field in (
            snap.name, snap.state.value, snap.last_line, snap.error,
            self.pools.get(snap.pool, snap.pool)))

    def _looks(self, snap: InstanceSnapshot) -> tuple[Any, ...]:
        """What the row shows of ``snap``, cheaply: equal looks, nothing to redraw
        (every change of a cell redraws the whole visible table)."""
        c = snap.counters
        return (snap.state, snap.held, format_coarse(snap.uptime), int(snap.lines_per_sec),
                format_coarse(snap.hung_in, last_minute=True), snap.last_line, snap.error,
                snap.fault, snap.title, snap.boot_output, snap.phase,
                (c.rounds, c.crashes, c.boots) if c is not None else None)

    def update_rows(self, snapshots: Sequence[InstanceSnapshot]) -> None:
        """Show ``snapshots``: rows added or removed by the filter, changed cells
        rewritten, order kept by the sort key; the cursor stays on its instance.
        Nothing is touched when nothing shown changed (an idle pool costs nothing)."""
        selected = self.selected()
        changed = [snap for snap in snapshots if self._looked.get(snap.name) != self._looks(snap)
                   or (snap.name in self._shown) != self._matches(snap)]
        for snap in snapshots:
            self._snaps[snap.name] = snap
        order = self._order_key()
        rows = sorted((s for s in snapshots if self._matches(s)), key=order)
        ordered = [s.name for s in rows]
        if not changed and ordered == self._order:
            return
        with self.app.batch_update():
            for snap in changed:
                self._looked[snap.name] = self._looks(snap)
                if not self._matches(snap):
                    if snap.name in self._shown:
                        self.remove_row(snap.name)
                        del self._shown[snap.name]
                    continue
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
            if ordered != self._order:
                self._order = ordered
                self.sort("name", key=lambda cell: order(self._snaps[cell.plain]))
                if selected in self._shown:
                    self.move_cursor(row=self.get_row_index(selected))
