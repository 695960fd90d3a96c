"""The Linux reader looks at a line one by one only where an anchor occurs
(issue #23, item 2: a 1 GB log at >= 50 MB/s): every report literal and flag
literal is found through its anchor, ordinary kernel output is counted without
a look at each line, and the reports are those of a reader that looks at
every line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_report_corpus import CORPUS, load
from tests.test_report_stream import TITLE, flood
from vmtui.backends.monitor.report import ReportScanner, find_reports, scan_text
from vmtui.backends.monitor.report.anchors import FLAG_LOOKS, FLAG_SPAN, choose, linux_anchors
from vmtui.backends.monitor.report.linux_rules import LINUX_OOPSES, WITH_STACK
from vmtui.backends.monitor.report.linux_scan import LinuxScanner
from vmtui.backends.monitor.report.model import HANGUP, literal_prefix, suppressions

DATA = Path(__file__).parent / "data"
ORDINARY = "[    1.000000] virtio_net virtio0 eth0: link up\n" * 50


def _clean_boot() -> list[str]:
    boot = (DATA / "linux-sysrq-crash.log").read_text(errors="replace")
    return boot.split("sysrq: Trigger a crash")[0].splitlines()[:-1]


def test_every_literal_is_found_through_its_anchor() -> None:
    anchors = linux_anchors()
    heads = {o.header for o in LINUX_OOPSES} | set(WITH_STACK)
    flags = {literal_prefix(p.pattern) for p in suppressions("linux")} | {HANGUP}
    assert len(heads) > 30 and len(flags) > 10 and "" not in flags
    for lit in sorted(heads | flags):
        line = f"[    2.000000] a {lit} b"
        for block in (ORDINARY + line + "\n" + ORDINARY, line, ORDINARY + line):
            specials, flagged = anchors.scan(block)
            at = block.find(line)
            assert (at in specials) == any(h in line for h in heads), (lit, block[:40])
            assert flagged == any(f in line for f in flags), lit
    assert anchors.scan(ORDINARY + "[ 1.0] panic=-1 DEBUG kernel: Killing time\n") == ([], False)


def test_a_literal_no_curated_anchor_holds_is_its_own_anchor() -> None:
    assert choose(("BUG: x", "kernel BUG", "QQQ here", "QQQ"), ("BUG", "zzz")) == ("BUG", "QQQ")


def test_ordinary_lines_are_counted_without_a_look_at_each(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: "ernel", "VFS: ", "panic" and " fail" sent ~5% of a boot's lines
    # (and every line of `journalctl -k`, "host kernel: ...") down the line-by-line path.
    looked: list[str] = []
    line_of = LinuxScanner._line

    def counting(self: LinuxScanner, raw: str, nxt: str | None, special: bool) -> None:
        looked.append(raw)
        line_of(self, raw, nxt, special)

    monkeypatch.setattr(LinuxScanner, "_line", counting)
    boot = _clean_boot()
    journal = [f"Dec 04 15:16:04 host kernel: {line.partition('] ')[2]}" for line in boot]
    ordinary = "".join(f"{line}\n" for line in (journal + boot) * 3)
    log = ordinary + flood(1)
    scanner = ReportScanner()
    got = []
    for i in range(0, len(log), 65536):
        got += scanner.feed(log[i:i + 65536])
        if i + 65536 < len(ordinary):
            assert looked == [], looked[:3]
    got += scanner.finish()
    before = ordinary.count("\n")
    assert [(r.title, r.line) for r in got] == [(TITLE, before + 1)]  # after "cut here"
    assert len(looked) <= flood(1).count("\n") + 1  # the report's own lines, and the last
    # its earlier lines of the same context came from the lines only counted,
    # across block borders: as a reader that looks at every line has them
    assert got[0].text.startswith("input: Power Button as")
    assert [r.as_dict() for r in got] == _every_line_looked_at(log)


def _every_line_looked_at(log: str) -> list[dict[str, object]]:
    block = log[:-1] if log.endswith("\n") else log
    scanner = LinuxScanner()
    starts = [0] + [m.end() for m in re.finditer("\n", block)]
    return [r.as_dict() for r in scanner.push(block, None, starts) + scanner.finish()]


def _by_anchors(log: str) -> list[dict[str, object]]:
    block = log[:-1] if log.endswith("\n") else log
    scanner = LinuxScanner()
    specials, _ = linux_anchors().scan(block)
    return [r.as_dict() for r in scanner.push(block, None, specials) + scanner.finish()]


def test_the_anchors_skip_only_lines_that_cannot_matter() -> None:
    logs = [load(p).log.replace("\r", "") for p in sorted((CORPUS / "linux").iterdir())]
    logs += [flood(20), flood(20, tagged=True), ORDINARY + flood(3) + ORDINARY]
    with_reports = 0
    for log in logs:
        expected = _every_line_looked_at(log)
        assert _by_anchors(log) == expected
        with_reports += bool(expected)
    assert with_reports > 600
    assert [r.title for r in find_reports(ORDINARY + flood(3) + ORDINARY)] == [TITLE] * 3


def test_many_places_of_a_flag_anchor_fall_back_to_the_exact_check() -> None:
    # "Killing time" holds the anchor of "Killed process" and "lowmemorykiller:
    # Killing 'sshd'": past FLAG_LOOKS of them the block is checked exactly.
    noise = "[    1.000000] Killing time, panic=-1\n" * (2 * FLAG_LOOKS)
    specials, flagged = linux_anchors().scan(noise)
    assert (specials, flagged) == ([], True)
    assert linux_anchors().scan(noise[:len(noise) // 8]) == ([], False)
    # a boot's "panic=-1" now and then is looked at, however big the block
    boots = (ORDINARY + "[    0.000000] Command line: console=ttyS0 panic=-1\n") * 400
    assert len(boots) > 20 * FLAG_SPAN * FLAG_LOOKS
    assert linux_anchors().scan(boots) == ([], False)
    oom = "[    2.000000] Out of memory: Kill process 12 (sshd)\n"
    for log, suppressed in ((noise + flood(1), False), (noise + flood(1) + oom, True)):
        got = list(scan_text([log[i:i + 4096] for i in range(0, len(log), 4096)]))
        assert [(r.title, r.suppressed) for r in got] == [(TITLE, suppressed)]
        assert [r.as_dict() for r in got] == [r.as_dict() for r in find_reports(log)]
