"""The console pane: a bounded line-API view of an instance's merged output."""

from __future__ import annotations

import collections
from collections.abc import Iterable

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from vmtui.widgets.inert import inert

SOURCES = ("console", "stdout", "stderr", "qemu", "vmtui")


class ConsoleView(ScrollView, can_focus=True):
    """Plain console lines, rendering only those in view (the line API).

    Lines are stored once, made inert on the way in; a Strip is built for a
    line only when it is on screen, and cached. The view follows the tail
    while it is scrolled to the bottom.
    """

    COMPONENT_CLASSES = {f"console-view--{s}" for s in SOURCES}

    DEFAULT_CSS = """
    ConsoleView {
        background: $surface;
        color: $text;
        scrollbar-gutter: stable;
    }
    ConsoleView > .console-view--console { }
    ConsoleView > .console-view--stdout { color: $text; }
    ConsoleView > .console-view--stderr { color: $error; }
    ConsoleView > .console-view--qemu { color: $warning; }
    ConsoleView > .console-view--vmtui { color: $text-muted; text-style: italic; }
    """

    def __init__(self, max_lines: int = 10000, *, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self._lines: collections.deque[tuple[str, str]] = collections.deque(maxlen=max_lines)
        self._first = 0  # absolute number of the oldest line held
        self._width = 0
        self._cache: LRUCache[tuple[int, str], Strip] = LRUCache(1024)
        # Follow the tail until the user scrolls away from the bottom; kept as
        # a flag because the first lines arrive before the view has a size.
        self.following = True

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def plain_lines(self) -> list[str]:
        """Every held line as shown (after sanitising)."""
        return [text for _, text in self._lines]

    def write_lines(self, lines: Iterable[tuple[str, str]]) -> None:
        """Append (source, text) pairs; text is untrusted and made inert here."""
        before = len(self._lines)
        width = self._width
        for source, text in lines:
            shown = inert(text)
            width = max(width, cell_len(shown))
            if len(self._lines) == self.max_lines:
                self._first += 1
            self._lines.append((source, shown))
        if len(self._lines) == before and self._first == 0:
            return
        self._width = width
        self.virtual_size = Size(width, len(self._lines))
        if self.following:
            self.scroll_to_tail()
        self.refresh()

    def scroll_to_tail(self) -> None:
        """Jump to the newest line and follow from now on."""
        self.following = True
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new < old:
            self.following = False
        elif new >= self.max_scroll_y:
            self.following = True

    def on_resize(self) -> None:
        if self.following:
            self.call_after_refresh(self.scroll_to_tail)

    def clear(self) -> None:
        """Forget every line."""
        self._lines.clear()
        self._cache.clear()
        self._first = 0
        self._width = 0
        self.virtual_size = Size(0, 0)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, base)
        strip = self._strip(index, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_offsets(scroll_x, index)

    def _strip(self, index: int, base: Style) -> Strip:
        source, text = self._lines[index]
        key = (self._first + index, self.app.theme)
        strip = self._cache.get(key)
        if strip is None:
            style = base + self.get_component_rich_style(
                f"console-view--{source}" if source in SOURCES else "console-view--console",
                partial=True)
            strip = Strip([Segment(text, style)], cell_len(text))
            self._cache[key] = strip
        return strip
