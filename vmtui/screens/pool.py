"""The pool screen: the table of every instance and a count per state."""

from __future__ import annotations

import collections
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from vmtui.bridge import Bridge, InstanceSnapshot, InstanceState
from vmtui.messages import OpenInstance
from vmtui.screens.confirm import ConfirmScreen
from vmtui.screens.lifecycle import LIFECYCLE_BINDINGS, LifecycleMixin, show_boot_output
from vmtui.screens.pools import ALL, PoolPicker
from vmtui.widgets.pool_table import SORT_KEYS, PoolTable


class PoolScreen(LifecycleMixin, Screen[None]):
    """The first screen: what every instance of the pool is doing."""

    HELP_TITLE = "Keys: pool"
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("S", "sort", "Sort", key_display="S"),
        Binding("colon", "pick_pool", "Pool", key_display=":", show=False),
        *LIFECYCLE_BINDINGS,
        Binding("I", "incidents", "Incidents", key_display="I"),
        Binding("C", "app.crashes", "Crashes", key_display="C"),
        Binding("B", "boot_output", "Boot output", key_display="B", show=False),
        Binding("A", "start_all", "Start all", key_display="A", show=False),
        Binding("Z", "stop_all", "Stop all", key_display="Z", show=False),
        Binding("F", "app.search_consoles", "Search every console", key_display="F",
                show=False),
        Binding("q", "app.quit", "Quit"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("question_mark", "app.help", "Keys", key_display="?"),
    ]

    DEFAULT_CSS = """
    PoolScreen #pool-filter { display: none; }
    PoolScreen #pool-filter.-shown { display: block; }
    """

    def __init__(self, bridge: Bridge) -> None:
        super().__init__()
        self.bridge = bridge
        self._summary = Text()
        self._snapshots: Sequence[InstanceSnapshot] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="pool-summary")
        yield Input(placeholder="filter: name, state or console text", id="pool-filter")
        yield PoolTable(farm=self.bridge.farm, id="pool-table",
                        pools={p.name: p.label for p in self.bridge.pools})
        yield Footer()

    @property
    def table(self) -> PoolTable:
        return self.query_one(PoolTable)

    def on_mount(self) -> None:
        self.title = "vmtui"
        self._show_view()
        self.table.focus()

    def _show_view(self) -> None:
        pools, view = self.bridge.pools, self.table.pool_view
        shown = [p for p in pools if view in (None, p.name)]
        if len(shown) == 1:
            pool = shown[0]
            self.sub_title = (f"pool {pool.label} · {pool.count} × {pool.type} · {pool.target}"
                              + (f" · 1 of {len(pools)} pools (: for all)"
                                 if len(pools) > 1 else ""))
        else:
            self.sub_title = (f"{len(pools)} pools · {sum(p.count for p in pools)} instances"
                              " (: to view one)")

    def on_screen_resume(self) -> None:
        self.bridge.subscribe_pool(self)

    def on_screen_suspend(self) -> None:
        self.bridge.unsubscribe_pool(self)

    def selected_instance(self) -> str | None:
        return self.table.selected()

    def on_bridge_pool_updated(self, message: Bridge.PoolUpdated) -> None:
        self._snapshots = message.snapshots
        self.table.update_rows(message.snapshots)
        view = self.table.pool_view
        snapshots = [s for s in message.snapshots if view in (None, s.pool)]
        down = self.bridge.connection()
        # Never the last state seen as if it were live: the header says so first.
        self.title = "vmtui · DISCONNECTED" if down else "vmtui"
        summary = Text(f" {down}: the table shows the last state seen \n",
                       style="bold white on red") if down else Text()
        restart = self.bridge.run_note(snapshots)
        if restart:  # a daemon (or app) restarted on these workdirs: what is new
            summary.append(f" {restart} \n", style="italic")
        summary.append(f" {len(snapshots)} instances  ")
        self._counts(summary, snapshots)
        if self.bridge.farm:
            totals = self.bridge.totals(snapshots)
            summary.append(f" {totals.vm_hours:.2f} VM-hours · {totals.crashes} crashes "
                           f"({totals.crashes_per_hour:.1f}/h) · {totals.unique} unique  ",
                           style="bold")
        if self.table.filter_text:
            summary.append(f"  filter: {self.table.filter_text!r} "
                           f"({self.table.row_count} shown)", style="italic")
        summary.append(f"  sorted by {self.table.sort_key}", style="dim")
        if len(self.bridge.pools) > 1 and view is None:
            for pool in self.bridge.pools:  # each pool's own counts
                summary.append(f"\n {pool.label}: ", style="bold")
                self._counts(summary, [s for s in snapshots if s.pool == pool.name])
        if summary != self._summary:  # an idle pool repaints nothing
            self._summary = summary
            self.query_one("#pool-summary", Static).update(summary)

    def _counts(self, summary: Text, snapshots: Sequence[InstanceSnapshot]) -> None:
        counts = collections.Counter(s.state for s in snapshots)
        for state in InstanceState:
            if counts[state]:
                summary.append("● ", style=self.table.state_text(state).style)
                summary.append(f"{counts[state]} {state.value}  ")

    def action_pick_pool(self) -> None:
        if len(self.bridge.pools) < 2:
            self.notify("One pool only: open several with vmtui a.yaml b.yaml", timeout=4)
            return
        counts = collections.Counter(s.pool for s in self._snapshots)
        pools = [(p.name, p.label, counts[p.name]) for p in self.bridge.pools]

        def picked(choice: str | None) -> None:
            if choice is None:
                return
            self.table.view_pool(None if choice == ALL else choice)
            self._show_view()
            self.bridge.push_pool()

        self.app.push_screen(PoolPicker(pools, self.table.pool_view), picked)

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        if message.row_key.value is not None:
            self.open_instance(message.row_key.value)

    def on_data_table_header_selected(self, message: DataTable.HeaderSelected) -> None:
        key = str(message.column_key.value)
        if key in SORT_KEYS:
            self.table.sort_by(key)
            self.bridge.push_pool()

    def action_open(self) -> None:
        name = self.selected_instance()
        if name is not None:
            self.open_instance(name)

    def open_instance(self, name: str) -> None:
        self.post_message(OpenInstance(name))

    def action_filter(self) -> None:
        box = self.query_one("#pool-filter", Input)
        box.add_class("-shown")
        box.value = self.table.filter_text
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)
        self.bridge.push_pool()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()
        if not event.value:
            event.input.remove_class("-shown")

    def action_clear_filter(self) -> None:
        box = self.query_one("#pool-filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.table.focus()

    def action_sort(self) -> None:
        keys = list(SORT_KEYS)
        self.table.sort_by(keys[(keys.index(self.table.sort_key) + 1) % len(keys)])
        self.bridge.push_pool()

    def action_incidents(self) -> None:
        from vmtui.screens.incidents import IncidentsScreen

        self.app.push_screen(IncidentsScreen(self.bridge))

    def action_boot_output(self) -> None:
        show_boot_output(self, self.bridge, self.selected_instance())

    def action_start_all(self) -> None:
        self.bridge.act_all("boot")

    def action_stop_all(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.bridge.act_all("kill")

        what = "pool" if len(self.bridge.pools) == 1 else "pools"
        self.app.push_screen(ConfirmScreen(f"Stop every instance of the {what}?"), answered)
