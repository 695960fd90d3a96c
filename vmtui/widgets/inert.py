"""The front's one way to show guest text: a Rich Text, never markup.

The sanitising rules live with the backend's :class:`GuestText` (titles are
made inert where they are created); this renderer applies them again, so a
string that did not pass through the backend is safe here too.
"""

from __future__ import annotations

from rich.text import Text

from vmtui.bridge import GuestText, inert

__all__ = ["inert", "inert_text"]


def inert_text(text: str, style: str = "") -> Text:
    """A Rich Text of ``text`` made inert: never parsed as markup."""
    return Text(GuestText(text), style=style, no_wrap=True, end="")
