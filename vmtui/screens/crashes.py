"""Unique crashes of the pool: one row per title, its newest report on Enter; from
the report, its full console log (l) and the incident it was filed from (i)."""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence

from rich.text import Text
from textual.binding import Binding
from textual.widgets.data_table import ColumnKey

from vmtui.bridge import Bridge, Crash, VMError
from vmtui.screens.listing import ListingScreen
from vmtui.screens.text import TextScreen
from vmtui.widgets.inert import inert_text


def _when(epoch: float) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(epoch))


def _instances(names: list[str]) -> str:
    if not names:
        return "earlier runs"
    names = sorted(names)
    return ", ".join(names) if len(names) <= 3 else f"{', '.join(names[:2])} +{len(names) - 2}"



class CrashesScreen(ListingScreen[Crash]):
    """Every unique crash title (syzkaller's crashes/ folder), the most recent first."""

    HELP_TITLE = "Keys: crashes"
    COLUMNS = ("Count", "First seen", "Last seen", "Instances", "Title")
    BINDINGS = [Binding("enter", "open", "Newest report")]

    def __init__(self, bridge: Bridge) -> None:
        super().__init__()
        self.bridge = bridge

    def on_mount(self) -> None:
        names = [p.name for p in self.bridge.pools]
        self.sub_title = (f"crashes of pool {names[0]}" if len(names) == 1
                          else f"crashes of pools {', '.join(names)}")
        self.call_after_refresh(self._fit_title)  # once the table has its size

    def items(self) -> list[Crash]:
        return self.bridge.crashes()

    def state(self, item: Crash) -> Hashable:
        return (str(item.folder), item.count)

    def row(self, item: Crash) -> tuple[Sequence[Text], str]:
        return (Text(str(item.count), justify="right"), Text(_when(item.first)),
                Text(_when(item.last)), Text(_instances(item.instances), style="dim"),
                inert_text(item.title, style="bold")), str(item.folder)

    def rows_changed(self) -> None:
        self._fit_title()

    def on_resize(self) -> None:
        self._fit_title()

    def _fit_title(self) -> None:
        # The title takes what the other columns leave (the report has it whole),
        # so a long title never pushes the table into sideways scrolling.
        table = self.table
        used = sum(c.get_render_width(table) for c in table.columns.values()
                   if c.key != ColumnKey("title"))
        title = table.columns[ColumnKey("title")]
        title.auto_width = False
        title.width = max(12, table.size.width - used - 2 * table.cell_padding - 1)
        table.refresh()

    def open_item(self, item: Crash) -> None:
        self.run_worker(self._open_report(item), group="report", exit_on_error=False)

    async def _open_report(self, item: Crash) -> None:
        try:
            text = await self.bridge.crash_report(item.title)
        except VMError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.push_screen(CrashReportScreen(self.bridge, item, text.splitlines()))


class CrashReportScreen(TextScreen):
    """A crash's newest report, from its first line; l: the console log saved with
    it, i: the incident folder it was filed from."""

    BINDINGS = [Binding("l", "log", "Full log"), Binding("i", "incident", "Incident")]

    def __init__(self, bridge: Bridge, crash: Crash, lines: list[str]) -> None:
        super().__init__(f"{crash.title} (newest report)", lines, top=True)
        self.bridge = bridge
        self.crash = crash

    def action_log(self) -> None:
        self.run_worker(self._show_log(), name="crash-log", exit_on_error=False)

    async def _show_log(self) -> None:
        try:
            name, text = await self.bridge.crash_log(self.crash)
        except VMError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.push_screen(TextScreen(f"{self.crash.title} ({name}: the console of its boot)",
                                        text.splitlines()))

    def action_incident(self) -> None:
        incident = self.bridge.crash_incident(self.crash)
        if incident is None:
            self.notify("no incident of this run was filed under this title (the report "
                        "and log are in the crashes/ folder)", severity="warning")
            return
        from vmtui.screens.incidents import IncidentScreen

        self.app.push_screen(IncidentScreen(self.bridge, incident))
