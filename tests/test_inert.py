"""Guest text is shown inert: no escape sequence or markup survives."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from vmtui.backends.inert import inert
from vmtui.widgets.console_lines import shown, widest
from vmtui.widgets.inert import inert_text


@pytest.mark.parametrize(("raw", "shown"), [
    ("plain text", "plain text"),
    ("\x1b[31mred\x1b[0m", "␛[31mred␛[0m"),
    ("\x1b]0;pwned title\x07", "␛]0;pwned title␇"),
    ("csi8\x9b2J", "csi8\ufffd2J"),
    ("del\x7f", "del\u2421"),
    ("nul\x00bell\x07", "nul␀bell␇"),
    ("a\tb", "a       b"),
    ("\rThe system is going down", "The system is going down"),
    ("10%\r50%\r100%\r", "100%"),
    ("bidi \u202eevil", "bidi \ufffdevil"),
    ("[@click=app.quit]x", "[@click=app.quit]x"),
    ("[bold]not bold[/]", "[bold]not bold[/]"),
])
def test_inert(raw: str, shown: str) -> None:
    assert inert(raw) == shown


def test_no_control_character_survives() -> None:
    everything = "".join(chr(c) for c in range(0x00, 0x100))
    out = inert(everything)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in out)


def test_inert_text_is_not_markup() -> None:
    text = inert_text("[@click=app.quit]x[/]")
    assert text.plain == "[@click=app.quit]x[/]"
    assert not text.spans


def test_the_console_view_is_never_narrower_than_what_it_shows() -> None:
    # The view stores text as it came and measures plain ASCII without making it
    # inert first: the width it computes must cover every line as shown.
    raws = ["plain", "\x1b[31mred", "tab\there\tand\tthere", "\u200b\u200b\u200bzw", "宽字符",
            "10%\r100%", "nul\x00", "csi\x9b2J", "x" * 300 + "\t|"]
    for raw in raws:
        lines = [shown("console", raw, 0.0), shown("stderr", raw, 0.0)]
        width = widest(lines, [raw, raw], show_source=True)
        assert width >= cell_len(inert(raw)) + len("stderr") + 2, raw
    batch = [shown("console", raw, 0.0) for raw in raws]
    assert widest(batch, raws, show_source=False) == cell_len(inert(raws[-1]))
