"""Big log benchmark: ``vmtui report`` on a 1 GB console log (issue #23, item 2).

Writes a log of ordinary kernel lines (the clean boot of
tests/data/linux-sysrq-crash.log, repeated with rising timestamps) with one
WARNING at the end, into a temporary folder (``--dir``, default the system's
temp dir; deleted after), and runs ``vmtui report`` on it in a subprocess,
three runs: the time, MB/s, and the child's peak RSS (``wait4``'s rusage),
each with the load average before it (the machine is shared: figures taken
under load are slower). The targets: >= 50 MB/s, peak RSS <= 256 MB whatever
the size.

    python bench/report_big.py [--mb 1024] [--dir /tmp] [--stdin]

``--stdin`` feeds the log through a pipe (``vmtui report -``) instead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_reader import DATA
from report_scale import TITLE, WARNING


def write_log(path: Path, megabytes: int) -> int:
    """An ordinary boot repeated to ``megabytes`` MB, a WARNING last; its size."""
    boot = (DATA / "linux-sysrq-crash.log").read_text(errors="replace")
    clean = [line.partition("] ")[2] for line in
             boot.split("sysrq: Trigger a crash")[0].splitlines()[:-1]]
    clock, size, target = 0.0, 0, megabytes * 1_000_000
    with path.open("w") as out:
        while size < target:
            chunk = []
            for line in clean:
                clock += 0.000211
                chunk.append(f"[{clock:12.6f}] {line}\n")
            text = "".join(chunk)
            out.write(text)
            size += len(text.encode())
        for line in WARNING.format(pid=4242, n=0).splitlines():
            clock += 0.000211
            out.write(f"[{clock:12.6f}] {line}\n")
    return path.stat().st_size


def run(log: Path, stdin: bool) -> tuple[float, int, str]:
    """One ``vmtui report`` on ``log``: seconds, peak RSS in KB, its output."""
    cmd = [sys.executable, "-m", "vmtui", "report", "-" if stdin else str(log)]
    with open(log, "rb") if stdin else open(os.devnull, "rb") as source:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=source, stdout=subprocess.PIPE, text=True)
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 1:
        raise SystemExit(f"vmtui report exited {proc.returncode}, not 1 (a report found)")
    return took, usage.ru_maxrss, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=1024, help="the log's size in MB (1024)")
    ap.add_argument("--dir", default=None, help="where the log is written (deleted after)")
    ap.add_argument("--stdin", action="store_true", help="read it as `vmtui report -`")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="vmtui-report-big-") as tmp:
        log = Path(tmp) / "console.log"
        began = time.perf_counter()
        size = write_log(log, args.mb)
        print(f"wrote {size / 1e6:.0f} MB in {time.perf_counter() - began:.1f} s: {log}")
        rates = []
        for n in range(1, args.runs + 1):
            load = os.getloadavg()[0]
            took, rss_kb, out = run(log, args.stdin)
            first = out.splitlines()[0] if out else ""
            assert first == TITLE, first
            rates.append(size / 1e6 / took)
            print(f"run {n}: {took:6.1f} s = {rates[-1]:5.1f} MB/s, "
                  f"peak RSS {rss_kb / 1024:5.1f} MB, title {first!r}, load {load:.2f} before")
        print(f"median {statistics.median(rates):.1f} MB/s "
              f"(spread {min(rates):.1f}-{max(rates):.1f}), load {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
