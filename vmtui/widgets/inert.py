"""Guest text made inert before it reaches the terminal.

Console output is untrusted. Textual's Log replaces only 0x00-0x14 and Rich
strips a few more, so ESC, the 8-bit CSI 0x9b and DEL would reach the user's
terminal (an OSC sequence could retitle it). Every C0 and C1 control, DEL and
the bidirectional overrides are replaced by visible stand-ins; the result is
only ever used as plain text (``rich.text.Text`` or a ``Segment``), never parsed
as markup.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 controls (tab handled apart), DEL, C1 controls, bidi embeddings and
# isolates, zero-width joiners and BOM that can disguise text.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _stand_in(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␛ for ESC
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"


def inert(text: str) -> str:
    """``text`` with every control character replaced by a visible stand-in.

    A carriage return moves a terminal back to the line's start, so what
    follows the last one (progress meters, "\rThe system is going down")
    is what a terminal would show.
    """
    if text.isprintable():  # nothing to replace (the common case, checked in C)
        return text
    if "\r" in text:
        text = next((part for part in reversed(text.split("\r")) if part), "")
    if "\t" in text:
        text = text.expandtabs(8)
    return _UNSAFE.sub(_stand_in, text)


def inert_text(text: str, style: str = "") -> Text:
    """A Rich Text of ``text`` made inert: never parsed as markup."""
    return Text(inert(text), style=style, no_wrap=True, end="")
