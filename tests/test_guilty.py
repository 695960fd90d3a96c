"""The guilty file, measured against syzkaller's own corpus (tests/data/guilty):
each file is a symbolised report and the file syzkaller blames for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmtui.backends.monitor.report import find_reports
from vmtui.backends.symbols.guilty import guilty_file

CORPUS = Path(__file__).parent / "data" / "guilty"
CASES = sorted((p for p in CORPUS.iterdir() if p.name != "NOTICE"), key=lambda p: int(p.name))


def _case(path: Path) -> tuple[str, str]:
    head, _, report = path.read_text().partition("\n\n")
    want = next(ln.partition(":")[2].strip() for ln in head.splitlines()
                if ln.startswith("FILE:"))
    return want, report


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_guilty_file_as_syzkaller_names_it(path: Path) -> None:
    want, log = _case(path)
    reports = find_reports(log, "linux")
    assert reports, "no report found in the case"
    report = reports[0]
    # As syzkaller's test does: a symbolised report repeats a frame's line for
    # each inlined function, which can end the parsed report early; then the
    # whole log, from the report's first line, is the report. The lines of its
    # context before its first line are not read.
    if log.endswith(report.text):
        text = "".join(report.text.splitlines(keepends=True)[report.prefix:])
    else:
        text = "".join(log.splitlines(keepends=True)[report.line:])
    assert guilty_file(str(report.title), text) == want


def test_the_corpus_is_all_there() -> None:
    assert len(CASES) == 68


def test_headers_and_helpers_are_passed_over() -> None:
    report = (" kasan_report+0x1/0x2 mm/kasan/report.c:1\n"
              " spin_lock include/linux/spinlock.h:3 [inline]\n"
              " foo_ioctl+0x5/0x9 drivers/foo/core.c:42\n"
              " foo_helper+0x5/0x9 drivers/foo/bar/helper.c:7\n"
              " vfs_ioctl+0x5/0x9 fs/ioctl.c:51\n")
    # the first file not a helper, then a deeper one in the same folder
    assert guilty_file("KASAN: use-after-free Read in foo", report) == \
        "drivers/foo/bar/helper.c"
    assert guilty_file("x", " kasan_report+0x1/0x2 mm/kasan/report.c:1\n") == \
        "mm/kasan/report.c"
    assert guilty_file("x", "no files here\n") == ""
