"""The report reader as a stream (issue #23, items 2 and 10): the same reports
whatever the pieces the log comes in, bounded lines, and work linear in the
number of reports."""

from __future__ import annotations

import io
import random
import sys
import time
from pathlib import Path

from tests.test_report_corpus import CORPUS, load
from vmtui.backends.monitor.report import (
    Report,
    ReportScanner,
    find_reports,
    read_text,
    scan_reports,
    scan_text,
)
from vmtui.backends.monitor.report.stream import LINE_CAP

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from report_scale import TITLE, flood


def _fields(reports: list[Report]) -> list[dict[str, object]]:
    return [r.as_dict() for r in reports]


def test_reports_straddling_piece_borders_are_found_whole() -> None:
    # Three WARNINGs with stacks, then corpus reports: cut at random places,
    # inside lines and inside a report, the scanner gives what the whole string gives.
    log = flood(3) + load(CORPUS / "linux" / "609").log + load(CORPUS / "linux" / "10").log
    whole = find_reports(log)
    assert len(whole) >= 4 and whole[0].title == TITLE
    rng = random.Random(23)
    for _ in range(20):
        scanner = ReportScanner()
        got, pos = [], 0
        while pos < len(log):
            step = rng.randint(1, 2000)
            got += scanner.feed(log[pos:pos + step])
            pos += step
        got += scanner.finish()
        assert _fields([scanner.release(r) for r in got]) == _fields(whole)


def test_a_character_split_across_reads_is_decoded_whole() -> None:
    log = "[    1.000000] caf\u00e9 \u2603\n" + flood(1)
    blocks = list(read_text(io.BytesIO(log.encode()), size=7))  # cuts the é and the ☃
    assert "".join(blocks) == log
    assert _fields(list(scan_text(blocks))) == _fields(find_reports(log))


def test_lines_iterable_and_string_agree() -> None:
    log = flood(5)
    assert _fields(list(scan_reports(log.split("\n")[:-1]))) == _fields(find_reports(log))


def test_a_line_past_the_cap_is_cut_and_the_reports_after_it_found() -> None:
    huge = "x" * (3 * LINE_CAP)
    log = f"[    1.000000] {huge}\n" + flood(2)
    scanner = ReportScanner()
    got = []
    for i in range(0, len(log), 1000):  # the long line arrives in many pieces
        got += scanner.feed(log[i:i + 1000])
    got += scanner.finish()
    assert [(r.title, r.line) for r in got] == [(TITLE, 2), (TITLE, 39)]
    assert [(r.title, r.line) for r in find_reports(log)] == [(TITLE, 2), (TITLE, 39)]


def _best_of_three(count: int) -> float:
    log = flood(count)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        assert len(find_reports(log)) == count
        times.append(time.perf_counter() - start)
    return min(times)


def test_reading_is_linear_in_the_number_of_reports() -> None:
    # Before #23 each report scanned to the end of the log: 4x the reports took ~16x.
    small, big = _best_of_three(150), _best_of_three(600)
    assert big / small < 8, f"150 reports {small:.3f} s, 600 reports {big:.3f} s"
