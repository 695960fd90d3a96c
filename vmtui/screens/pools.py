"""Switch the pool table's view to one pool or all of them (``:``, as k9s switches
contexts)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

ALL = "\x00all"  # the option id of "every pool" (no pool is named so: names are YAML text)


class PoolPicker(ModalScreen[str | None]):
    """Lists "all pools" and each pool with its count; dismisses with the pool's
    name, ``ALL``, or None when left with escape."""

    BINDINGS = [Binding("escape", "leave", "Back")]

    DEFAULT_CSS = """
    PoolPicker { align: center middle; }
    PoolPicker > Vertical {
        width: 56; max-width: 90%; height: auto; border: thick $primary;
        background: $panel; padding: 0 1;
    }
    PoolPicker OptionList { height: auto; max-height: 20; border: none; }
    """

    def __init__(self, pools: list[tuple[str, str, int]], current: str | None) -> None:
        """``pools``: (name, label, instances) of each pool; ``current``: the view."""
        super().__init__()
        self.pools = pools
        self.current = current

    def compose(self) -> ComposeResult:
        total = sum(count for _, _, count in self.pools)
        options = [Option(f"all pools  ({total} instances)", id=ALL)]
        # Labels hold a host from a config's URI: plain text, never read as markup.
        options += [Option(Text(f"{label}  ({count})"), id=name)
                    for name, label, count in self.pools]
        with Vertical():
            yield Static("View which pool?")
            yield OptionList(*options, id="pool-options")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = options.get_option_index(self.current or ALL)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_leave(self) -> None:
        self.dismiss(None)
