"""The console pane: a bounded line-API view of an instance's merged output."""

from __future__ import annotations

import bisect
import collections
import re
import time
from collections.abc import Iterable
from operator import itemgetter

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from vmtui.bridge import TEXT, Line, inert
from vmtui.widgets.console_lines import highlight, next_target, prefix, shown, widest
from vmtui.widgets.keys import key_bytes

__all__ = ["PAINT_INTERVAL", "ConsoleView", "shown"]

PAINT_INTERVAL = 0.1  # seconds
SOURCES = ("console", "stdout", "stderr", "qemu", "vmtui", "event")
DETACH_KEY = "ctrl+right_square_bracket"


class ConsoleView(ScrollView, can_focus=True):
    """Plain console lines, rendering only those in view (the line API).

    Lines are stored as they came and made inert wherever they are shown
    (on screen, saved, searched); a Strip is built for a line only when it
    is on screen, and cached. The view follows the tail
    while it is scrolled to the bottom; lines that arrive while it does not
    are counted in ``unseen``. In attach mode every key becomes bytes for
    the guest's console, posted as :class:`ConsoleView.Input`, until the
    detach key.
    """

    class Input(Message):
        """Bytes typed into the console while attached."""

        def __init__(self, view: ConsoleView, data: bytes) -> None:
            super().__init__()
            self.view = view
            self.data = data

        @property
        def control(self) -> ConsoleView:
            return self.view

    class Detached(Message):
        """The user pressed the detach key."""

    COMPONENT_CLASSES = {f"console-view--{s}" for s in SOURCES} | {
        "console-view--match", "console-view--current", "console-view--meta",
        "console-view--pending"}

    DEFAULT_CSS = """
    ConsoleView {
        background: $surface;
        color: $text;
        scrollbar-gutter: stable;
    }
    ConsoleView.-attached { background: $panel; }
    ConsoleView > .console-view--console { }
    ConsoleView > .console-view--stdout { color: $text; }
    ConsoleView > .console-view--stderr { color: $error; }
    ConsoleView > .console-view--qemu { color: $warning; }
    ConsoleView > .console-view--vmtui { color: $text-muted; text-style: italic; }
    ConsoleView > .console-view--event { color: $accent; }
    ConsoleView > .console-view--match { background: $warning 40%; }
    ConsoleView > .console-view--current { background: $warning; color: $background; }
    ConsoleView > .console-view--meta { color: $text-muted; }
    ConsoleView > .console-view--pending { color: $text; }
    """

    attached: reactive[bool] = reactive(False)
    show_time: reactive[bool] = reactive(False)
    show_source: reactive[bool] = reactive(True)
    unseen: reactive[int] = reactive(0)

    def __init__(self, max_lines: int = 10000, *, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self._lines: collections.deque[Line] = collections.deque(maxlen=max_lines)
        self._first = 0  # absolute number of the oldest line held
        self._rows: list[int] | None = None  # absolute numbers shown, when filtered
        self._filter: re.Pattern[str] | None = None
        self._search: re.Pattern[str] | None = None
        self._current: int | None = None  # absolute number of the current match
        self.pending = ""  # the partial last line (a prompt), shown after the rest
        self._width = 0
        self._cache: LRUCache[tuple[object, ...], Strip] = LRUCache(256)
        self._styles: dict[str, Style] = {}  # computed styles, until the CSS changes
        # Follow the tail until the user scrolls away from the bottom; kept as
        # a flag because the first lines arrive before the view has a size.
        self.following = True
        # While lines pour in, the view repaints at most every PAINT_INTERVAL.
        self._painted_at = 0.0
        self._paint_timer: Timer | None = None

    # -- content ---------------------------------------------------------------

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def plain_lines(self) -> list[str]:
        """Every held line as shown (after sanitising), filter ignored."""
        return list(map(inert, map(itemgetter(TEXT), self._lines)))

    def shown_lines(self) -> list[str]:
        """The lines the view shows now (the filter applied)."""
        return [inert(self._line(n)[TEXT]) for n in self._row_numbers()]

    def write_lines(self, lines: Iterable[Line], pending: str | None = None) -> None:
        """Append lines (the ring's, or made by :func:`shown`); their text is
        untrusted, stored as it came and made inert wherever it is shown.
        ``pending`` replaces the unfinished last line (a prompt) when not None."""
        batch = lines if isinstance(lines, list) else list(lines)
        skipped = max(0, len(batch) - self.max_lines)
        if skipped:
            # They would leave the bounded buffer at once: never build them.
            self._first += len(self._lines) + skipped
            self._lines.clear()
            if self._rows is not None:
                self._rows.clear()
            batch = batch[skipped:]
        show_source, time_width = self.show_source, 13 if self.show_time else 0
        keep = self._lines
        full = len(keep) + len(batch) - self.max_lines
        first_new = self._first + len(keep)
        texts = list(map(itemgetter(TEXT), batch))
        keep.extend(batch)
        width = max(self._width - time_width, widest(batch, texts, show_source))
        if self._rows is not None and self._filter is not None:
            search = self._filter.search
            self._rows.extend(first_new + i for i, text in enumerate(texts)
                              if search(inert(text)))
        if full > 0:
            self._first += full  # the deque dropped that many from its front
        if self._rows is not None:
            del self._rows[:bisect.bisect_left(self._rows, self._first)]
        if pending is not None:
            self.pending = inert(pending)
        if not batch and not skipped and pending is None:
            return
        self._width = width + time_width
        start = self._row_count() - len(batch) - (1 if self.pending else 0)
        self._resize()
        if not self.following:
            self.unseen += len(batch) + skipped
        now = time.monotonic()
        if now - self._painted_at < PAINT_INTERVAL:
            # A flood: show it at a rate a person can follow, not per batch.
            if self._paint_timer is None:
                self._paint_timer = self.set_timer(
                    self._painted_at + PAINT_INTERVAL - now, self._paint_all)
            return
        self._painted_at = now
        if self.following:
            self.scroll_to_tail()
        # Repaint only the rows that changed (the new ones and the prompt);
        # a scroll repaints what it moves by itself.
        self.refresh_lines(max(0, start - 1), len(batch) + 2)

    def _paint_all(self) -> None:
        self._paint_timer = None
        self._painted_at = time.monotonic()
        if self.following:
            self.scroll_to_tail()
        self.refresh()

    def write(self, source: str, text: str) -> None:
        """Append one line now (vmtui's own notes)."""
        self.write_lines([shown(source, text, time.time())])

    def clear(self) -> None:
        """Forget every line."""
        self._lines.clear()
        self._cache.clear()
        self._first = 0
        self._rows = [] if self._filter is not None else None
        self._width = 0
        self.pending = ""
        self._resize()
        self.refresh()

    def _line(self, number: int) -> Line:
        return self._lines[number - self._first]

    def _row_numbers(self) -> Iterable[int]:
        if self._rows is not None:
            return self._rows
        return range(self._first, self._first + len(self._lines))

    def _row_count(self) -> int:
        rows = len(self._rows) if self._rows is not None else len(self._lines)
        return rows + (1 if self.pending and self._rows is None else 0)

    def _resize(self) -> None:
        self.virtual_size = Size(self._width, self._row_count())

    # -- following -------------------------------------------------------------

    def scroll_to_tail(self) -> None:
        """Jump to the newest line and follow from now on."""
        self.following = True
        self.unseen = 0
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def pause(self) -> None:
        """Stop following the tail (new lines are counted in ``unseen``)."""
        self.following = False

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new < old and new < self.max_scroll_y:
            # Scrolled up by the user (a taller view's clamp to its bottom is not).
            self.following = False
        elif new >= self.max_scroll_y and not self.following:
            self.following = True
            self.unseen = 0

    def on_resize(self) -> None:
        if self.following:
            self.call_after_refresh(self.scroll_to_tail)

    # -- filter and search -----------------------------------------------------

    def set_filter(self, pattern: str) -> int:
        """Show only lines matching the regex ``pattern`` ("" shows all); the count.

        Raises:
            re.error: the pattern is not a regular expression.
        """
        self._filter = re.compile(pattern) if pattern else None
        if self._filter is None:
            self._rows = None
        else:
            self._rows = [n for n in range(self._first, self._first + len(self._lines))
                          if self._filter.search(inert(self._line(n)[TEXT]))]
        self._cache.clear()
        self._resize()
        self.scroll_to_tail()
        self.refresh()
        return self._row_count()

    def set_search(self, pattern: str) -> int:
        """Highlight matches of the regex ``pattern``; jump to the last one; the count.

        Raises:
            re.error: the pattern is not a regular expression.
        """
        self._search = re.compile(pattern) if pattern else None
        self._current = None
        self._cache.clear()
        matches = self.matches()
        if matches:
            self._goto(matches[-1])
        self.refresh()
        return len(matches)

    def matches(self) -> list[int]:
        """Absolute numbers of the shown lines that match the search."""
        if self._search is None:
            return []
        return [n for n in self._row_numbers() if self._search.search(inert(self._line(n)[TEXT]))]

    def next_match(self, backwards: bool = False) -> int | None:
        """Move to the next (or previous) match; its line number, or None."""
        matches = self.matches()
        if not matches:
            return None
        target = next_target(matches, self._current, backwards)
        self._goto(target)
        return target

    def goto(self, number: int) -> None:  # held line ``number`` made the current match
        self._goto(number)

    @property
    def current_match(self) -> int | None:
        return self._current

    def _goto(self, number: int) -> None:
        self._current = number
        rows = list(self._row_numbers())
        row = rows.index(number)
        self.following = False
        self.scroll_to(y=max(0, row - self.size.height // 2), animate=False)
        self._cache.clear()
        self.refresh()

    # -- display options -------------------------------------------------------

    def _prefix(self, line: Line) -> str:
        return prefix(line, self.show_time, self.show_source)

    def watch_show_time(self) -> None:
        self._options_changed()

    def watch_show_source(self) -> None:
        self._options_changed()

    def _options_changed(self) -> None:
        self._cache.clear()
        lines = self._lines
        self._width = (13 if self.show_time else 0) + widest(
            lines, list(map(itemgetter(TEXT), lines)), self.show_source)
        self._resize()
        self.refresh()

    def watch_attached(self, attached: bool) -> None:
        self.set_class(attached, "-attached")
        if attached:
            self.scroll_to_tail()

    # -- rendering -------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._cache.clear()

    def _style(self, part: str) -> Style:
        """The widget's style plus component ``part`` ("" for the base), cached:
        computing a widget's rich_style takes ~0.2 ms, too much per line."""
        style = self._styles.get(part)
        if style is None:
            base = self.rich_style
            style = base if not part else base + self.get_component_rich_style(
                f"console-view--{part}", partial=True)
            self._styles[part] = style
        return style

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.size.width
        base = self._style("")
        numbers = self._rows if self._rows is not None else None
        count = len(numbers) if numbers is not None else len(self._lines)
        if row < count:
            number = numbers[row] if numbers is not None else self._first + row
            strip = self._strip(number)
        elif row == count and self.pending and numbers is None:
            style = self._style("pending")
            text = self.pending
            strip = Strip([Segment(text, style)], cell_len(text))
        else:
            return Strip.blank(width, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_offsets(scroll_x, row)

    def _strip(self, number: int) -> Strip:
        key = (number, number == self._current)
        strip = self._cache.get(key)
        if strip is not None:
            return strip
        line = self._line(number)
        _, source, raw, _ = line
        text = inert(raw)
        style = self._style(source if source in SOURCES else "console")
        meta = self._style("meta")
        segments = []
        prefix = self._prefix(line)
        if prefix:
            segments.append(Segment(prefix, meta))
        if self._search is None:
            segments.append(Segment(text, style))
        else:
            mark = style + self._style("current" if number == self._current else "match")
            segments += highlight(text, self._search, style, mark)
        strip = Strip(segments, cell_len(prefix) + cell_len(text))
        self._cache[key] = strip
        return strip

    # -- attach ----------------------------------------------------------------

    async def on_key(self, event: events.Key) -> None:
        if not self.attached:
            return
        event.stop()
        event.prevent_default()
        if event.key == DETACH_KEY:
            self.attached = False
            self.post_message(self.Detached())
            return
        data = key_bytes(event.key, event.character)
        if data:
            self.post_message(self.Input(self, data))
