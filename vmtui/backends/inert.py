"""Guest text made inert: what a guest printed can never act on a terminal.

Console output is untrusted. Textual's Log replaces only 0x00-0x14 and Rich
strips a few more, so ESC, the 8-bit CSI 0x9b and DEL would reach the user's
terminal (an OSC sequence could retitle it or set its clipboard). Every C0
and C1 control, DEL, the bidirectional overrides and the zero-width
characters are replaced by visible stand-ins.

:class:`GuestText` is the type for any string that came from a guest (a
crash title, the last console line, an error that quotes a guest): building
one makes it inert, so a value of that type is safe wherever it is shown.
Console lines in the ring stay raw (the console view makes them inert where
it shows them, line by line, so a flood is not scanned on the way in).
"""

from __future__ import annotations

import re

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
    follows the last one (progress meters, "\\rThe system is going down")
    is what a terminal would show. The result is printable, one line, and
    ``inert(inert(x)) == inert(x)``.
    """
    if text.isprintable():  # nothing to replace (the common case, checked in C)
        return text
    if "\r" in text:
        text = next((part for part in reversed(text.split("\r")) if part), "")
    if "\t" in text:
        text = text.expandtabs(8)
    return _UNSAFE.sub(_stand_in, text)


class GuestText(str):
    """A string from a guest, made inert when it is built.

    ``GuestText(raw)`` is the only way to make one, so a value of this type
    holds no control character, escape sequence or bidi override. It is an
    ordinary ``str`` otherwise; text joined to it is as safe as the other
    part.
    """

    __slots__ = ()

    def __new__(cls, text: object = "") -> GuestText:
        if type(text) is cls:
            return text
        return super().__new__(cls, inert(text if isinstance(text, str) else str(text)))


EMPTY = GuestText("")
