"""Symbolising report frames with binutils' addr2line (vmtui.backends.symbols).

Reports made of real kernel functions (``func+0xOFF/0xSIZE`` from the guest's
vmlinux, a fixed random sample) are symbolised by one Symbolizer:

- cold:      a 40-frame report in a new Symbolizer (readelf + addr2line start)
- new:       then a 40-frame report of other functions (parts of the kernel not
             yet decoded)
- warm 40:   the first report again (addr2line keeps what it decoded)
- 2000 new:  2,000 frames of functions not seen before, frames/s
- 2000 warm: the same 2,000 again, frames/s ("after warm-up")

Then real reports: the Linux reports of syzkaller's corpus (tests/data/
syzkaller-report, other kernels, their frames resolved by name in this one),
each symbolised as the incident writer does, in corpus order by one Symbolizer:
per-report time (median and 90th percentile, first pass) and frames/s of the
first pass and of a second pass.

Each run in a fresh Symbolizer; the last lines give the median and the spread.

    python bench/symbolize.py [--vmlinux PATH] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vmtui.backends.symbols.frames import Symbolizer
from vmtui.backends.symbols.symtab import SymbolTable
from vmtui.guest import debugsyms
from vmtui.guest.build import default_guest


def reports(vmlinux: Path, seed: int) -> tuple[str, str, str]:
    table = SymbolTable(vmlinux)
    funcs = sorted((name, s) for name, syms in table.by_name.items() for s in syms[:1]
                   if s.size > 16 and name.isidentifier())
    pick = random.Random(seed).sample(funcs, 2080)

    def report(chosen: list[tuple[str, object]]) -> str:
        lines = ["Call Trace:", " <TASK>"]
        for name, sym in chosen:
            size = sym.size  # type: ignore[attr-defined]
            lines.append(f" {name}+{size // 2:#x}/{size:#x}")
        return "\n".join(lines + [" </TASK>", ""])

    return report(pick[:40]), report(pick[40:80]), report(pick[80:])


def one_run(vmlinux: Path, seed: int) -> dict[str, float]:
    first, second, big = reports(vmlinux, seed)
    out: dict[str, float] = {}
    with Symbolizer(vmlinux) as sym:
        t = time.perf_counter()
        done = sym.symbolize(first)
        out["cold 40 (ms)"] = (time.perf_counter() - t) * 1000
        assert done.count(".c:") >= 30, done  # really symbolised
        t = time.perf_counter()
        sym.symbolize(second)
        out["new 40 (ms)"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        sym.symbolize(first)
        out["warm 40 (ms)"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        sym.symbolize(big)
        out["2000 new (frames/s)"] = 2000 / (time.perf_counter() - t)
        t = time.perf_counter()
        sym.symbolize(big)
        out["2000 warm (frames/s)"] = 2000 / (time.perf_counter() - t)
        pid = next(iter(sym.procs.values())).proc.pid
        rss = Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]
        out["addr2line RSS (MiB)"] = int(rss) / 1024
    return out


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def corpus_run(vmlinux: Path, limit: int) -> dict[str, float]:
    from vmtui.backends.monitor.report import find_reports
    from vmtui.backends.monitor.report.symbolized import symbolized
    from vmtui.backends.symbols.frames import FRAME

    folder = Path(__file__).resolve().parent.parent / "tests/data/syzkaller-report/linux"
    found = []
    for path in sorted(folder.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0):
        text = path.read_text(errors="replace").partition("\n\n")[2]
        found += find_reports(text, "linux")[:1]
        if len(found) == limit:
            break
    frames = sum(1 for r in found for line in r.text.splitlines() if FRAME.search(line))
    out: dict[str, float] = {"reports": len(found), "frames": frames}
    with Symbolizer(vmlinux) as sym:
        for rnd in ("first", "second"):
            times = []
            t0 = time.perf_counter()
            for report in found:
                t = time.perf_counter()
                symbolized(report, sym)
                times.append((time.perf_counter() - t) * 1000)
            out[f"{rnd} pass (frames/s)"] = frames / (time.perf_counter() - t0)
            if rnd == "first":
                out["corpus: first report (ms)"] = times[0]  # readelf, addr2line's start
                rest = sorted(times[1:])
                out["corpus: later, median (ms)"] = statistics.median(rest)
                out["corpus: later, p90 (ms)"] = rest[int(len(rest) * 0.9)]
                out["corpus: later, max (ms)"] = rest[-1]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vmlinux", type=Path, default=debugsyms.paths(default_guest().dir)[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--reports", type=int, default=300, help="corpus reports per run")
    args = p.parse_args()
    if not args.vmlinux.is_file():
        sys.exit(f"{args.vmlinux}: not found (vmtui guest build --debug)")
    print(f"load before: {uptime()}  cpus: {os.cpu_count()}")
    runs = []
    for i in range(args.runs):
        runs.append(one_run(args.vmlinux, seed=i) | corpus_run(args.vmlinux, args.reports))
        print(f"run {i + 1}: " + "  ".join(f"{k} {v:.0f}" for k, v in runs[-1].items()),
              flush=True)
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(f"{key:>22}: median {statistics.median(values):.1f}  "
              f"(min {min(values):.1f}, max {max(values):.1f})")
    print(f"load after: {uptime()}")


if __name__ == "__main__":
    main()
