"""Search every console on one time axis: the logs on disk of every instance.

A regex, a time window (from, to) and a source filter; the hits of every
instance merged by time with the instance named; Enter opens that instance
with the line highlighted (``OpenInstance`` carries its time and text).
"""

from __future__ import annotations

import re
import time
from datetime import datetime

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from vmtui.bridge import Bridge, SearchHit, SearchQuery, VMError
from vmtui.messages import OpenInstance
from vmtui.widgets.inert import inert_text

_AGO = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%H:%M:%S", "%H:%M")


def parse_when(text: str, now: float, field: str) -> float | None:
    """A time the operator typed: "" (open), ``15m``/``2h``/``30s``/``1d`` (that long
    ago), ``14:05[:30]`` (today), ``2026-12-04 14:05[:30]``, in local time.

    Raises:
        ValueError: naming ``field`` and what was typed.
    """
    text = text.strip()
    if not text:
        return None
    m = _AGO.fullmatch(text)
    if m:
        return now - float(m.group(1)) * _UNIT[m.group(2)]
    for fmt in _FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if not fmt.startswith("%Y"):
            today = datetime.fromtimestamp(now)
            parsed = parsed.replace(year=today.year, month=today.month, day=today.day)
        return parsed.timestamp()
    raise ValueError(f"{field}: {text!r} is not a time (15m, 2h, 14:05, 2026-12-04 14:05)")


def stamp(when: float) -> str:
    """A hit's time as the list shows it (local time, milliseconds)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) + f".{int(when % 1 * 1000):03d}"


def size(count: int) -> str:
    """Bytes as the status line says them."""
    return f"{count / 2**20:.1f} MiB" if count >= 2**20 else f"{count / 1024:.1f} KiB"


class SearchScreen(Screen[None]):
    """Every console log on disk, searched; hits merged by time."""

    HELP_TITLE = "Keys: search every console"
    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("enter", "open", "Open at line", show=True),
        Binding("slash", "edit", "Edit pattern", key_display="/"),
        Binding("question_mark", "app.help", "Keys", key_display="?"),
    ]

    DEFAULT_CSS = """
    SearchScreen #search-form { height: 3; }
    SearchScreen #search-pattern { width: 3fr; }
    SearchScreen #search-since, SearchScreen #search-until { width: 1fr; }
    SearchScreen #search-sources { width: 1fr; }
    SearchScreen #search-status { height: 1; padding: 0 1; }
    SearchScreen #search-hits { height: 1fr; }
    """

    def __init__(self, bridge: Bridge) -> None:
        super().__init__()
        self.bridge = bridge
        self.hits: list[SearchHit] = []
        self.more = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="search-form"):
            yield Input(placeholder="regex, in every console log (Enter searches)",
                        id="search-pattern")
            yield Input(placeholder="from: 2h", id="search-since")
            yield Input(placeholder="to: 14:05", id="search-until")
            yield Input(placeholder="source: stdout", id="search-sources")
        yield Static("type a regex and Enter: every instance's console.log is searched",
                     id="search-status")
        table: DataTable[str | Text] = DataTable(id="search-hits", cursor_type="row",
                                                 zebra_stripes=True)
        table.add_columns("Time", "Instance", "Source", "Line")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.title = "vmtui"
        self.sub_title = "search every console"
        self.query_one("#search-pattern", Input).focus()

    def _status(self, text: str | Text) -> None:
        self.query_one("#search-status", Static).update(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            query = self._query()
        except ValueError as exc:
            self._status(Text(str(exc), style="bold"))
            return
        if query is not None:
            self._status(f"searching for /{query.pattern}/ …")
            self._search(query)

    def _query(self) -> SearchQuery | None:
        def value(name: str) -> str:
            return self.query_one(f"#search-{name}", Input).value

        pattern = value("pattern")
        if not pattern:
            self._status("type a regex first")
            return None
        now = time.time()
        since = parse_when(value("since"), now, "from")
        until = parse_when(value("until"), now, "to")
        sources = tuple(s.strip() for s in value("sources").split(",") if s.strip())
        return SearchQuery(pattern, since, until, sources)

    @work(exclusive=True, group="search", exit_on_error=False)
    async def _search(self, query: SearchQuery) -> None:
        try:
            result = await self.bridge.search(query)
        except VMError as exc:
            self._status(Text(str(exc), style="bold"))
            return
        self.hits, self.more = result.hits, result.more
        table = self.query_one("#search-hits", DataTable)
        table.clear()
        for hit in result.hits:
            # Never a plain str: DataTable reads one as markup.
            table.add_row(Text(stamp(hit.time)), inert_text(hit.instance),
                          inert_text(hit.source or "?"), inert_text(hit.text))
        count = len(result.hits)
        status = Text(f"{count} hit{'s' if count != 1 else ''}", style="bold")
        if result.more:
            status.append(" (more…: narrow the window or the pattern)", style="bold")
        status.append(f" · {result.files} logs, {size(result.searched)} read · oldest first "
                      "· Enter opens the line")
        for problem in result.problems:
            status.append("\n")
            status.append_text(inert_text(problem, style="italic"))
        self._status(status)
        if count:
            table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one("#search-hits", DataTable)
        if not self.hits or not 0 <= table.cursor_row < len(self.hits):
            return
        hit = self.hits[table.cursor_row]
        self.post_message(OpenInstance(hit.instance, at_time=hit.time, at_text=hit.text))

    def action_edit(self) -> None:
        self.query_one("#search-pattern", Input).focus()

    def action_back(self) -> None:
        self.app.pop_screen()
