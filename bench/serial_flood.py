"""Serial library benchmark: asyncio serial I/O on a pty under a flood.

For issue #13's console source: which asyncio serial library to read a
serial console with. Each candidate opens the slave side of a pty as a serial
port (115200 baud, as pyserial configures a tty); a child process owns the
master side and
- read flood: writes --mb MiB of numbered 100-byte lines as fast as the pty
  takes them, then an END line; the library reads until END;
- write: the library writes --write-kib KiB while the child drains the master
  slowly (4 KiB every 10 ms).
Measured in the reading process: the worst event-loop stall (a 1 ms ticker's
worst lateness), bytes lost (lines missing), CPU seconds per MiB read, and
the worst stall while writing. Three runs each; medians and ranges printed.

    python bench/serial_flood.py [--mb 16] [--write-kib 256] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

CHILD = r"""
import os, pty, sys, time, tty
master, slave = pty.openpty()
tty.setraw(master)
print(os.ttyname(slave), flush=True)
mode, size = sys.stdin.readline().split()
if mode == "flood":
    lines = int(size)
    block = b"".join(b"%08d " % i + b"x" * 90 + b"\n" for i in range(1000))
    for start in range(0, lines, 1000):
        os.write(master, block)
    os.write(master, b"END\n")
    time.sleep(2)
else:
    want, got = int(size), 0
    while got < want:
        got += len(os.read(master, 4096))
        time.sleep(0.01)
    print(got, flush=True)
"""

Opener = Callable[[str], Awaitable[tuple[asyncio.StreamReader, Any]]]


def openers() -> dict[str, Opener]:
    """The candidates that are installed (serialx is vmtui's own dependency; the
    others: pip install pyserial-asyncio pyserial-asyncio-fast)."""
    found: dict[str, Opener] = {}
    try:
        import serial_asyncio
        found["pyserial-asyncio 0.6"] = lambda p: serial_asyncio.open_serial_connection(
            url=p, baudrate=115200)
    except ImportError:
        print("pyserial-asyncio: not installed, skipped")
    try:
        import serial_asyncio_fast
        found["pyserial-asyncio-fast 0.16"] = lambda p: serial_asyncio_fast.open_serial_connection(
            url=p, baudrate=115200)
    except ImportError:
        print("pyserial-asyncio-fast: not installed, skipped")
    import serialx
    found["serialx 1.15"] = lambda p: serialx.open_serial_connection(p, baudrate=115200)
    return found


class Ticker:
    """Wakes every millisecond; remembers the worst lateness (an event-loop stall)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.001
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, loop.time() - due)

    def stop(self) -> float:
        self.task.cancel()
        return self.worst


def cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


async def read_flood(opener: Opener, mib: int) -> tuple[float, int, float, float]:
    lines = -(-(mib * 1024 * 1024 // 100) // 1000) * 1000  # the child sends blocks of 1000
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdin and child.stdout
    path = child.stdout.readline().strip()
    reader, writer = await opener(path)
    ticker, start_cpu, start = Ticker(), cpu(), time.monotonic()
    child.stdin.write(f"flood {lines}\n")
    child.stdin.flush()
    seen, buf = 0, b""
    while True:
        chunk = await asyncio.wait_for(reader.read(65536), 30)
        if not chunk:
            break
        buf += chunk
        *whole, buf = buf.split(b"\n")
        if whole and whole[-1] == b"END":
            seen += len(whole) - 1
            break
        seen += len(whole)
    elapsed, used, stall = time.monotonic() - start, cpu() - start_cpu, ticker.stop()
    writer.close()
    child.wait(10)
    got_mib = seen * 100 / 1024 / 1024
    return stall, (lines - seen) * 100, used / max(got_mib, 1e-9), got_mib / elapsed


async def write_slowly(opener: Opener, kib: int) -> float:
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdin and child.stdout
    path = child.stdout.readline().strip()
    _, writer = await opener(path)
    child.stdin.write(f"drain {kib * 1024}\n")
    child.stdin.flush()
    ticker = Ticker()
    writer.write(b"w" * (kib * 1024))
    await asyncio.wait_for(writer.drain(), 60)
    await asyncio.sleep(0.2)
    stall = ticker.stop()
    writer.close()
    child.wait(60)
    return stall


async def main(mib: int, kib: int, runs: int) -> None:
    loop = asyncio.get_running_loop()
    errors: list[str] = []
    # A library callback that raises is reported, not printed as a traceback.
    loop.set_exception_handler(lambda _loop, ctx: errors.append(
        f"{ctx.get('message')}: {ctx.get('exception')!r}"))
    for name, opener in openers().items():
        rows = []
        for n in range(1, runs + 1):
            errors.clear()
            stall, lost, cpu_mib, rate = await read_flood(opener, mib)
            wstall = await write_slowly(opener, kib)
            rows.append((stall, lost, cpu_mib, rate, wstall))
            print(f"{name} run {n}: read {rate:.1f} MiB/s, worst stall {stall * 1000:.1f} ms, "
                  f"lost {lost} B, CPU {cpu_mib:.3f} s/MiB; writing {kib} KiB to a slow "
                  f"reader: worst stall {wstall * 1000:.1f} ms; callback errors "
                  f"{len(errors)}{' (' + errors[0][:90] + ')' if errors else ''}", flush=True)
        for i, what, unit, scale in ((3, "read rate", "MiB/s", 1), (0, "worst read stall",
                                     "ms", 1000), (2, "CPU", "s/MiB", 1),
                                     (4, "worst write stall", "ms", 1000)):
            v = [r[i] * scale for r in rows]
            print(f"  {what}: median {statistics.median(v):.3f} {unit} "
                  f"(range {min(v):.3f}-{max(v):.3f}); lost {sum(r[1] for r in rows)} B in all")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=16)
    parser.add_argument("--write-kib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    a = parser.parse_args()
    asyncio.run(main(a.mb, a.write_kib, a.runs))
