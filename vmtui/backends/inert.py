"""Guest text made inert: what a guest printed can never act on a terminal.

Console output is untrusted. Textual's Log replaces only 0x00-0x14 and Rich
strips a few more, so ESC, the 8-bit CSI 0x9b and DEL would reach the user's
terminal (an OSC sequence could retitle it or set its clipboard). Nor may a
guest hide text from the person reading it. So every character that is not
shown as itself becomes a visible stand-in, one for one:

- C0 controls as their Control Pictures (``␛`` for ESC, ``␍`` for a carriage
  return: what came before a CR is shown, never overwritten), DEL as ``␡``;
- ``�`` for C1 controls, every format character (Unicode category Cf: bidi
  marks, embeddings, overrides and isolates, U+061C, zero-width spaces and
  joiners, U+2060-2064, the BOM, the soft hyphen, the tag characters
  U+E0000-E007F), the line and paragraph separators (Zl, Zp), surrogates,
  unassigned code points (what a newer terminal makes of them is unknown),
  and the default-ignorable characters that are letters or marks by category
  but print nothing: the Hangul fillers, U+034F, U+17B4-5, the Mongolian and
  all other variation selectors. Variation selectors are replaced too though
  an emoji may carry one: they print nothing, can smuggle data after any
  character (one byte each), and change a glyph's width on some terminals
  only, which would break every column measured here.

Private-use characters (a glyph or a box) and spaces other than U+0020 (blank
but wide) stay: they hide nothing. A tab becomes spaces to the next stop of 8.
Carriage returns at the end of a line (a console's ``\\r\\r\\n``) hide nothing
either and are dropped.

:class:`GuestText` is the type for any string that came from a guest (a
crash title, the last console line, an error that quotes a guest): building
one makes it inert, so a value of that type is safe wherever it is shown.
Console lines in the ring stay raw (the console view makes them inert where
it shows them, line by line, so a flood is not scanned on the way in).
"""

from __future__ import annotations

import re
import unicodedata

# Default-ignorable code points that str.isprintable() passes (letters and
# marks by category); the rest of Unicode's list is Cf or unassigned.
_PRINTABLE_INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180d\u180f\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0100-\U000e01ef]")
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})
_CACHED = 1 << 14  # distinct code points remembered: a guest cannot grow it without end


def _stand_in(code: int) -> int | str:
    """What ``chr(code)`` is shown as: itself (its code) or a visible stand-in."""
    if code < 0x20:
        return code if code == 0x09 else chr(0x2400 + code)  # Control Pictures; tabs expand
    if code == 0x7F:
        return "\u2421"  # ␡
    char = chr(code)
    if (unicodedata.category(char) in _HIDDEN_CATEGORIES
            or _PRINTABLE_INVISIBLE.match(char)):
        return "\ufffd"
    return code


class _Table(dict[int, "int | str"]):
    """str.translate's table, filled on first sight of each code point."""

    def __missing__(self, code: int) -> int | str:
        shown = _stand_in(code)
        if len(self) < _CACHED:
            self[code] = shown
        return shown


_TABLE = _Table((code, _stand_in(code)) for code in range(0x100))


def inert(text: str) -> str:
    """``text`` with every control or invisible character replaced by a visible stand-in.

    The result is printable, one line, shows every character of ``text``
    that a terminal would show (a carriage return does not hide what came
    before it) and ``inert(inert(x)) == inert(x)``.
    """
    if text.isprintable() and (text.isascii() or not _PRINTABLE_INVISIBLE.search(text)):
        return text  # nothing to replace (the common case, checked in C)
    text = text.rstrip("\r").translate(_TABLE)
    return text.expandtabs(8) if "\t" in text else text


class GuestText(str):
    """A string from a guest, made inert when it is built.

    ``GuestText(raw)`` is the only way to make one, so a value of this type
    holds no control character, escape sequence, bidi override or invisible
    character. It is an ordinary ``str`` otherwise; text joined to it is as
    safe as the other part.
    """

    __slots__ = ()

    def __new__(cls, text: object = "") -> GuestText:
        if type(text) is cls:
            return text
        return super().__new__(cls, inert(text if isinstance(text, str) else str(text)))


EMPTY = GuestText("")
