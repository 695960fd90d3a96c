"""Guest text is shown inert: no escape sequence or markup survives."""

from __future__ import annotations

import unicodedata

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
    ("[@click=app.quit]x", "[@click=app.quit]x"),
    ("[bold]not bold[/]", "[bold]not bold[/]"),
    # A carriage return hides nothing: what came before it is shown.
    ("hidden start\rvisible", "hidden start␍visible"),
    ("\rThe system is going down", "␍The system is going down"),
    ("10%\r50%\r100%\r", "10%␍50%␍100%"),  # a CR at the end hides nothing: dropped
    ("ok\r\r", "ok"),
    ("a\tb\rc\td", "a       b␍c     d"),  # tab stops counted with the stand-in
    # Bidi and other format characters (category Cf).
    ("bidi \u202eevil", "bidi \ufffdevil"),
    ("isolate \u2066x\u2069", "isolate \ufffdx\ufffd"),
    ("arabic letter mark \u061c", "arabic letter mark \ufffd"),
    ("word joiner\u2060 and invisible operators \u2061\u2062\u2063\u2064",
     "word joiner\ufffd and invisible operators \ufffd\ufffd\ufffd\ufffd"),
    ("zero\u200bwidth\u200c\u200d\u200e\u200f\ufeff", "zero\ufffdwidth" + "\ufffd" * 5),
    ("soft\u00adhyphen", "soft\ufffdhyphen"),
    ("tags \U000e0001\U000e0068\U000e0069\U000e007f", "tags " + "\ufffd" * 4),
    # Line and paragraph separators (Zl, Zp): a terminal may break the line.
    ("line\u2028para\u2029", "line\ufffdpara\ufffd"),
    # Default-ignorable letters and marks: print nothing, so shown.
    ("\u3164\u115f\uffa0fillers", "\ufffd\ufffd\ufffdfillers"),
    ("cgj\u034f khmer\u17b4 mongolian\u180b\u180e",
     "cgj\ufffd khmer\ufffd mongolian\ufffd\ufffd"),
    ("variation\ufe0f \U000e0100", "variation\ufffd \ufffd"),
    # Unassigned, noncharacters, surrogates.
    ("unassigned \u0378 \U000effff \uffff", "unassigned \ufffd \ufffd \ufffd"),
    ("surrogate \ud800", "surrogate \ufffd"),
    # Shown as themselves: they hide nothing.
    ("wide 宽字符, accent e\u0301, box ─┼─, µs", "wide 宽字符, accent e\u0301, box ─┼─, µs"),
    ("nbsp\u00a0ideographic\u3000space", "nbsp\u00a0ideographic\u3000space"),
    ("private \ue000", "private \ue000"),
])
def test_inert(raw: str, shown: str) -> None:
    assert inert(raw) == shown
    assert inert(shown) == shown


HIDDEN = {"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"}
# Unicode's default-ignorable code points that are letters or marks.
IGNORABLE = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x3164,
             0xFFA0, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)}


def test_every_code_point_is_itself_or_one_visible_stand_in() -> None:
    for code in range(0x110000):
        if code in (0x09, 0x0D):
            continue
        char = chr(code)
        out = inert(f"a{char}b")
        assert len(out) == 3 and out[0] + out[2] == "ab", hex(code)
        hidden = unicodedata.category(char) in HIDDEN or code in IGNORABLE
        assert (out[1] != char) == hidden, f"U+{code:04X} {unicodedata.category(char)}"
        assert unicodedata.category(out[1]) not in HIDDEN, hex(code)


def test_a_carriage_return_never_drops_text() -> None:
    # What a terminal would overwrite is all there, in order, whatever the CRs.
    parts = ["root:x:0:0", "", "rm -rf /", "   ", "The system is going down"]
    for sep in ("\r", "\r\r", "\r\x1b[K"):
        out = inert(sep.join(parts) + "tail")
        pos = 0
        for part in [*parts, "tail"]:
            assert part in out[pos:], f"{part!r} lost from {out!r}"
            pos = out.index(part, pos) + len(part)


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
