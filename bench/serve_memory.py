"""Daemon memory while clients come and go: ``vmtui serve`` (8 scripted
instances) for ``--minutes`` while ``--connects`` clients, spread evenly over
the run, each connect (a RemoteControl: the REST reads and the stream), watch
a console, type a line into it, wait for its echo and go. The daemon's RSS is
read from /proc every second.

Prints RSS at the start (after the first client), at the end, its maximum,
and the slope (least squares, MB per minute) over the whole run and over its
second half (warm-up over: what grows there grows for ever).

    .venv/bin/python bench/serve_memory.py [--minutes 10] [--connects 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.serve_daemon import Daemon, scripted_yaml
from vmtui.remote.address import parse_address
from vmtui.remote.control import RemoteControl

COUNT = 8


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) in MB per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mm = sum(m for _, m in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    return 60 * sum((t - mt) * (m - mm) for t, m in samples) / var if var else 0.0


async def visit(sock: Path, i: int) -> None:
    """One client: connect, watch a console, type, see the echo, leave."""
    control = RemoteControl(parse_address(f"unix:{sock}"))
    await control.connect()
    try:
        await control.wait_live(30)
        name = f"mem-{i % COUNT}"
        cursor = control.console_start(name)
        text = f"visit {i:05d}"
        await control.type_into(name, f"{text}\n".encode())
        deadline = time.monotonic() + 30
        while text not in [line[2] for line in control.console_since(name, cursor).lines]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"client {i}: no echo of {text!r}")
            await asyncio.sleep(0.02)
    finally:
        await control.close()


async def run(args: argparse.Namespace, d: Daemon) -> list[tuple[float, float]]:
    pid = d.proc.pid
    samples: list[tuple[float, float]] = []
    start = time.monotonic()
    duration = args.minutes * 60
    gap = duration / args.connects

    async def sample() -> None:
        while True:
            samples.append((time.monotonic() - start, rss_mb(pid)))
            await asyncio.sleep(1)

    sampler = asyncio.create_task(sample())
    try:
        for i in range(args.connects):
            await asyncio.sleep(max(0.0, start + i * gap - time.monotonic()))
            await visit(d.sock, i)
            if (i + 1) % max(1, args.connects // 10) == 0:
                print(f"  {i + 1} clients came and went; {time.monotonic() - start:.0f} s; "
                      f"RSS {rss_mb(pid):.1f} MB; load "
                      f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        await asyncio.sleep(max(0.0, start + duration - time.monotonic()))
    finally:
        sampler.cancel()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--connects", type=int, default=500)
    args = parser.parse_args()
    print(f"{COUNT} scripted instances; {args.connects} clients over {args.minutes:g} min; "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        config = scripted_yaml(Path(tmp) / "p", count=COUNT, name="mem",
                               lines=["[    0.000000] Linux version 6.1 (scripted)", "login:"])
        with Daemon([config]) as d:
            deadline = time.monotonic() + 60
            while sum(s["state"] == "running" for s in d.get("/api/v1/instances")) < COUNT:
                assert time.monotonic() < deadline, "the pool did not come up"
                time.sleep(0.2)
            fds = d.fds()
            samples = asyncio.run(run(args, d))
            fds_after = d.fds()
            assert d.stop() == 0
    rss = [m for _, m in samples]
    half = [s for s in samples if s[0] >= samples[-1][0] / 2]
    print(f"daemon RSS: start {rss[0]:.1f} MB, end {rss[-1]:.1f} MB, max {max(rss):.1f} MB; "
          f"slope {slope(samples):+.3f} MB/min over the run, {slope(half):+.3f} MB/min over "
          f"its second half; open files {fds} before, {fds_after} after")


if __name__ == "__main__":
    main()
