"""syzkaller's report corpus (tests/data/syzkaller-report, see its NOTICE) through
vmtui's detector: every file, whole and split into random reads.

The figures per OS are printed (pytest -s shows them). Issue #11's targets are
not met yet: the floors below are the figures measured now, so they can only
rise. Raise them as the rules improve.
"""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vmtui.backends.merger import OutputMerger
from vmtui.backends.report import find_reports

CORPUS = Path(__file__).parent / "data" / "syzkaller-report"
OSES = ("linux", "freebsd", "openbsd", "netbsd")


@dataclass
class Case:
    name: str
    titles: list[str]  # the title, then the alternatives; empty: no report
    log: str


@dataclass
class Figures:
    files: int = 0
    crashes: int = 0
    found: int = 0
    exact: int = 0
    clean: int = 0
    false_alarms: list[str] = field(default_factory=list)


def cases(os_name: str) -> list[Case]:
    out = []
    for path in sorted((CORPUS / os_name).iterdir(), key=lambda p: p.name):
        raw = path.read_bytes().decode("utf-8", "replace")
        header, _, log = raw.partition("\n\n")
        titles = []
        for line in header.splitlines():
            key, _, value = line.partition(": ")
            if key in ("TITLE", "ALT"):
                titles.append(value)
        if not any(line.startswith(("TITLE:", "TYPE:", "ALT:", "CORRUPTED:"))
                   for line in header.splitlines()):
            log = raw  # no header at all: the whole file is the log
        out.append(Case(path.name, titles, log))
    return out


def figures(os_name: str) -> Figures:
    fig = Figures()
    for case in cases(os_name):
        fig.files += 1
        reports = find_reports(case.log, os_name)
        if case.titles:
            fig.crashes += 1
            fig.found += bool(reports)
            fig.exact += bool(reports) and reports[0].title in case.titles
        else:
            fig.clean += 1
            if reports:
                fig.false_alarms.append(case.name)
    return fig


# Measured on this code (2026-11-22); issue #11 asks for 95% / 90% exact and none false.
FLOORS = {  # os: (found %, exact %, false alarms at most)
    "linux": (91.0, 3.0, 4),
    "freebsd": (100.0, 0.0, 0),
    "openbsd": (92.5, 7.0, 0),
    "netbsd": (58.0, 0.0, 2),
}


@pytest.mark.parametrize("os_name", OSES)
def test_corpus_figures(os_name: str) -> None:
    fig = figures(os_name)
    found = 100 * fig.found / fig.crashes
    exact = 100 * fig.exact / fig.crashes
    print(f"\n{os_name}: {fig.files} files, {fig.crashes} with a crash: found {found:.1f}%, "
          f"exact title {exact:.1f}%, false alarms {len(fig.false_alarms)} of {fig.clean} "
          f"without a crash")
    floor_found, floor_exact, most_false = FLOORS[os_name]
    assert found >= floor_found and exact >= floor_exact
    assert len(fig.false_alarms) <= most_false, fig.false_alarms


def test_split_reads_agree_with_the_whole_file() -> None:
    # The merger joins lines split across reads: titles do not depend on read sizes.
    rng = random.Random(11)
    for case in cases("linux")[::7]:
        data = case.log.encode()
        merger = OutputMerger()
        pos = 0
        while pos < len(data):
            step = rng.randint(1, 300)
            merger.feed("console", data[pos:pos + step])
            pos += step
        merger.eof("console")
        lines = [chunk[1].decode("utf-8", "replace") for chunk in merger.drain()]
        split = [r.title for r in find_reports("\n".join(lines) + "\n")]
        assert split == [r.title for r in find_reports(case.log)], case.name


def test_report_command_exit_status(tmp_path: Path) -> None:
    crash = CORPUS / "linux" / "10"
    clean = tmp_path / "clean.log"
    clean.write_text("[    0.000000] Linux version 6.1\n\x1b]0;title\x07 plain boot\n")
    run = [sys.executable, "-m", "vmtui", "report"]
    found = subprocess.run([*run, str(crash)], capture_output=True, text=True)
    assert found.returncode == 1
    assert found.stdout.startswith("BUG: unable to handle kernel paging request")
    none = subprocess.run([*run, str(clean)], capture_output=True, text=True)
    assert (none.returncode, none.stdout) == (0, f"{clean}: no kernel report found\n")
    as_json = subprocess.run([*run, "--json", str(crash)], capture_output=True, text=True)
    assert as_json.returncode == 1 and as_json.stdout.lstrip().startswith("[")
    missing = subprocess.run([*run, str(tmp_path / "nope")], capture_output=True, text=True)
    assert missing.returncode == 2 and "No such file" in missing.stderr
