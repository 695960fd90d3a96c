"""The help screen: the keys of the screen underneath, its own keys first."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def key_table(screen: Screen[object]) -> Table:
    """The keys of ``screen``: its own bindings, then the focused widget's shown ones."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", justify="right")
    table.add_column()
    app = screen.app
    rows: dict[str, str] = {}
    for binding in Binding.make_bindings(type(screen).BINDINGS):
        if binding.description:
            rows.setdefault(app.get_key_display(binding), binding.description)
    for item in screen.active_bindings.values():
        if item.node is not screen and item.binding.show and item.enabled:
            label = item.tooltip or item.binding.description
            rows.setdefault(app.get_key_display(item.binding), label)
    for key, label in rows.items():
        table.add_row(key, label)
    return table


class HelpScreen(ModalScreen[None]):
    """Lists the keys of the screen it was opened from."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close help"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: auto; max-width: 90%; height: auto; max-height: 90%;
        border: round $accent; border-title-style: bold; padding: 1 2; background: $panel;
    }
    HelpScreen Static { width: auto; }
    HelpScreen .help--hint { padding-top: 1; color: $text-muted; }
    """

    def __init__(self, table: Table, title: str) -> None:
        super().__init__()
        self._table = table
        self._title = title

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = self._title
            yield Static(self._table)
            yield Static(Text("Ctrl+P: command palette · Esc: close"), classes="help--hint")
