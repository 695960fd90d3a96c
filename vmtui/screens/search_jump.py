"""Landing on a hit of the search across consoles in its instance's console.

A hit names the time a line reached the log and its (inert) text; the
instance screen's console holds lines with the time they reached the ring
(the same moment, give or take a batch). As console batches arrive, the line
of that text written nearest that time is made the current match (every line
holding the text highlighted, n/N move among them). When lines newer than the
hit arrive and it was not among them, it has left the console's memory: the
screen says so (it is still in console.log).
"""

from __future__ import annotations

import re

from textual.screen import Screen

from vmtui.bridge import TEXT, TIME, Line, inert
from vmtui.widgets.console_view import ConsoleView

SLACK = 5.0  # seconds between a line's time on disk and in the ring, at most


def goto_line(screen: Screen[None], view: ConsoleView, at: tuple[float, str],
              lines: list[Line]) -> tuple[float, str] | None:
    """Look for ``at`` (time, text) among ``lines``, just written to ``view``.

    Returns ``at`` while it may still arrive, None once shown or given up.
    """
    when, text = at
    best: tuple[float, int] | None = None
    for k, line in enumerate(lines):
        gap = abs(line[TIME] - when)
        if gap <= SLACK and (best is None or gap < best[0]) and inert(line[TEXT]) == text:
            best = (gap, k)
    if best is None:
        if lines and lines[-1][TIME] > when + SLACK:
            screen.notify("that line is no longer in the console's memory; it is in "
                          "console.log", severity="warning", timeout=8)
            return None
        return at
    # The batch is the newest part of the view: the hit is the match that
    # many from the end as there are lines holding its text after it here.
    later = sum(1 for line in lines[best[1] + 1:] if text in inert(line[TEXT]))
    view.set_search(re.escape(text))
    matches = view.matches()
    if later < len(matches):
        view.goto(matches[-1 - later])
    return None
