"""How a console line looks: its width, its prefix, its search highlights.

Plain functions over the ring's line tuples, for the console view. Text is
made inert before it is measured or shown.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from operator import itemgetter

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style

from vmtui.bridge import SOURCE, Line, inert


def shown(source: str, text: str, when: float) -> Line:
    """A line for the view that did not come from a ring."""
    return (-1, source, text, when)


def widest(lines: Sequence[Line], texts: list[str], show_source: bool) -> int:
    """Cells of the widest of ``lines`` (their ``texts``) made inert, timestamps aside.

    ASCII without tabs (a flood's common case) is measured in C as it
    came: made inert it is no wider (a control becomes one stand-in).
    """
    if all(map(str.isascii, texts)) and "\t" not in "".join(texts):
        widths = map(len, texts)
    else:
        widths = map(cell_len, map(inert, texts))
    width = max(widths, default=0)
    if show_source and set(map(itemgetter(SOURCE), lines)) != {"console"}:
        labelled = [cell_len(inert(text)) + len(source) + 2
                    for _, source, text, _ in lines if source != "console"]
        width = max(width, max(labelled, default=0))
    return width


def prefix(line: Line, show_time: bool, show_source: bool) -> str:
    """The timestamp and source label shown before a line's text."""
    _, source, _, when = line
    out = ""
    if show_time:
        stamp = time.strftime("%H:%M:%S", time.localtime(when))
        out += f"{stamp}.{int(when * 1000) % 1000:03d} "
    if show_source and source != "console":
        out += f"{source}│ "
    return out


def highlight(text: str, search: re.Pattern[str], style: Style, mark: Style) -> list[Segment]:
    """``text`` as segments, the matches of ``search`` in ``mark``."""
    out, pos = [], 0
    for m in search.finditer(text):
        if m.start() == m.end():
            continue
        out.append(Segment(text[pos:m.start()], style))
        out.append(Segment(m.group(), mark))
        pos = m.end()
    out.append(Segment(text[pos:], style))
    return [s for s in out if s.text]


def next_target(matches: list[int], current: int | None, backwards: bool) -> int:
    """The match after (or before) ``current``, wrapping around; ``matches`` is not empty."""
    if current is None:
        return matches[-1] if backwards else matches[0]
    if backwards:
        return next((n for n in reversed(matches) if n < current), matches[-1])
    return next((n for n in matches if n > current), matches[0])
