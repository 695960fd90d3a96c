"""Report reader benchmark: how fast logs are read for kernel reports.

Two figures, three runs each (these machines are shared and noisy):
- the offline reader (``find_reports``, as ``vmtui report`` and the watch use
  it) over syzkaller's whole report corpus in tests/data: files and MB per
  second;
- the live detector (``CrashDetector.check_lines``, on every console batch)
  over a clean boot log repeated to 100,000 lines: lines per second, the cost
  a flood of ordinary console output pays.

    python bench/report_reader.py
"""

from __future__ import annotations

import time
from pathlib import Path

from vmtui.backends.monitor.detector import CrashDetector
from vmtui.backends.monitor.report import find_reports

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def corpus() -> list[tuple[str, str]]:
    out = []
    for os_dir in sorted((DATA / "syzkaller-report").iterdir()):
        if os_dir.is_dir():
            out += [(os_dir.name, p.read_text(errors="replace")) for p in sorted(os_dir.iterdir())]
    return out


def main() -> None:
    logs = corpus()
    size = sum(len(text) for _, text in logs) / 1e6
    boot = (DATA / "linux-sysrq-crash.log").read_text(errors="replace")
    clean = boot.split("sysrq: Trigger a crash")[0].splitlines()
    lines = (clean * (100_000 // len(clean) + 1))[:100_000]
    detector = CrashDetector("linux")
    for run in range(1, 4):
        start = time.perf_counter()
        found = sum(bool(find_reports(text, os)) for os, text in logs)
        offline = time.perf_counter() - start
        start = time.perf_counter()
        alarms = sum(len(detector.check_lines(lines[i:i + 100]))
                     for i in range(0, len(lines), 100))
        live = time.perf_counter() - start
        print(f"run {run}: offline {len(logs)} files ({size:.1f} MB, {found} with a report) "
              f"in {offline:.2f} s = {len(logs) / offline:.0f} files/s, "
              f"{size / offline:.1f} MB/s; live {len(lines)} clean lines in batches of 100: "
              f"{len(lines) / live / 1e3:.0f}k lines/s, {alarms} alarms")


if __name__ == "__main__":
    main()
