"""The help screen: every key of the screen underneath, grouped."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def key_table(screen: Screen[object]) -> Text:
    """The active bindings of ``screen`` (and its focused widget and the app)."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        label = binding.description or binding.action
        if label in seen or not active.enabled:
            continue
        seen.add(label)
        rows.append((screen.app.get_key_display(binding), active.tooltip or label))
    width = max((len(k) for k, _ in rows), default=0)
    text = Text()
    for key, label in rows:
        text.append(f"{key:>{width}}", style="bold")
        text.append(f"  {label}\n")
    text.rstrip()
    return text


class HelpScreen(ModalScreen[None]):
    """Lists the keys of the screen it was opened from."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close help"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: auto; max-width: 90%; height: auto; max-height: 90%;
        border: round $accent; padding: 1 2; background: $panel;
    }
    HelpScreen Static { width: auto; }
    HelpScreen .help--title { text-style: bold; padding-bottom: 1; }
    """

    def __init__(self, table: Text, title: str) -> None:
        super().__init__()
        self._table = table
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title), classes="help--title")
            yield Static(self._table)
            yield Static(Text("Ctrl+P opens the command palette. Esc closes this help.",
                              style="italic"))
