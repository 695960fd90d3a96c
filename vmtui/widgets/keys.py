"""Textual key names turned into the bytes a serial terminal sends."""

from __future__ import annotations

# What a VT100-style terminal sends for the keys that have no character.
_SPECIAL = {
    "enter": b"\r", "tab": b"\t", "backspace": b"\x7f", "escape": b"\x1b",
    "up": b"\x1b[A", "down": b"\x1b[B", "right": b"\x1b[C", "left": b"\x1b[D",
    "home": b"\x1b[H", "end": b"\x1b[F", "delete": b"\x1b[3~", "insert": b"\x1b[2~",
    "pageup": b"\x1b[5~", "pagedown": b"\x1b[6~",
    "ctrl+space": b"\x00", "ctrl+backslash": b"\x1c",
    "ctrl+circumflex_accent": b"\x1e", "ctrl+underscore": b"\x1f",
}


def key_bytes(key: str, character: str | None) -> bytes:
    """The bytes for a key press; b"" for keys a terminal would not send."""
    if key in _SPECIAL:
        return _SPECIAL[key]
    if key.startswith("ctrl+") and len(key) == 6 and key[5].isalpha():
        return bytes([ord(key[5].lower()) - ord("a") + 1])  # ctrl+c -> ETX
    if character and character.isprintable():
        return character.encode()
    return b""
