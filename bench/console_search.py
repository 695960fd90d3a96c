"""Search across consoles: 1 GB of logs over 32 instances, one regex, merged by time.

Generates ``--instances`` workdirs in a temporary folder, each with a
``console.log`` of ``--mb`` MiB (kernel-like lines, a rare needle line per MiB)
and its time index (an entry every 64 KiB, 10 ms apart; the 64 KiB holding the
needle of every other MiB written by a command's ``stdout``, the rest by the console), then runs
``vmtui.backends.console.search.search`` ``--runs`` times (the page cache warm
after the first). For comparison it also runs Python's ``re`` over an mmap of
each file, in one process, the engine vmtui would use without ripgrep.
Prints each run, the median and the spread, and the load average.

    python bench/console_search.py [--instances 32] [--mb 32] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import mmap
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from vmtui.backends.console.search import SearchQuery, search
from vmtui.backends.console.timeindex import encode, index_path

MB = 1 << 20
STEP = 64 << 10  # bytes between index entries


def _chunk(instance: int, block: int) -> bytes:
    """One MiB of console text with one needle line in it."""
    lines = []
    size = 0
    i = 0
    while size < MB - 200:
        if i == 1000:
            line = f"[{block:6d}.{i:06d}] vmtui-needle {instance} {block}\n"
        else:
            line = (f"[{block:6d}.{i:06d}] virtio_net virtio0 eth0: rx queue {i % 8} "
                    f"refill {i * 7919 % 100000} ok\n")
        lines.append(line)
        size += len(line)
        i += 1
    data = "".join(lines).encode()
    return data + b"x" * (MB - len(data) - 1) + b"\n"


def generate(root: Path, instances: int, mb: int) -> list[tuple[str, Path]]:
    logs = []
    base = time.time() - 3600
    for n in range(instances):
        workdir = root / f"vm-{n}"
        workdir.mkdir()
        log = workdir / "console.log"
        entries = []
        with open(log, "wb") as f:
            for block in range(mb):
                f.write(_chunk(n, block))
        for k, offset in enumerate(range(0, mb * MB, STEP)):
            source = "stdout" if k % 32 == 1 else "console"  # even MiBs' needles
            entries.append(encode(offset, base + k * 0.01 + n * 0.001, source))
        index_path(log).write_bytes(b"".join(entries))
        logs.append((f"vm-{n}", log))
    return logs


def python_re(logs: list[tuple[str, Path]], pattern: str) -> int:
    rx = re.compile(pattern.encode())
    hits = 0
    for _, log in logs:
        with open(log, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            hits += sum(1 for _ in rx.finditer(m))
    return hits


def _figures(name: str, runs: list[float]) -> None:
    med = statistics.median(runs)
    print(f"{name}: runs {' '.join(f'{r:.3f}' for r in runs)} s; median {med:.3f} s, "
          f"spread {min(runs):.3f}-{max(runs):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=32)
    parser.add_argument("--mb", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-python", action="store_true", help="skip the re comparison")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vmtui-search-bench-") as tmp:
        t = time.monotonic()
        logs = generate(Path(tmp), args.instances, args.mb)
        total = sum(log.stat().st_size for _, log in logs)
        print(f"generated {total / MB:.0f} MiB in {len(logs)} logs in "
              f"{time.monotonic() - t:.1f} s")
        cases = [
            ("regex, all", SearchQuery(r"vmtui-needle \d+ 1\d", limit=500)),
            ("regex, source stdout",
             SearchQuery(r"vmtui-needle \d+ \d+", sources=("stdout",), limit=500)),
            ("ignore case, its literal on every line",
             SearchQuery(r"QUEUE [0-7] REFILL 9999\d", ignore_case=True)),
        ]
        for name, query in cases:
            runs, result = [], None
            for _ in range(args.runs):
                t = time.monotonic()
                result = asyncio.run(search(logs, query))
                runs.append(time.monotonic() - t)
            assert result is not None
            print(f"{name}: {len(result.hits)} hits, more={result.more}, "
                  f"{result.searched / MB:.0f} MiB read by ripgrep")
            _figures(f"ripgrep {name}", runs)
        for pattern in ([] if args.no_python else
                        [r"vmtui-needle \d+ 1\d", r"(?i)QUEUE [0-7] REFILL 9999\d"]):
            runs = []
            for _ in range(args.runs):
                t = time.monotonic()
                hits = python_re(logs, pattern)
                runs.append(time.monotonic() - t)
            print(f"python re over mmap, {pattern}: {hits} hits")
            _figures("python re, one process", runs)
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
