"""Idle cost benchmark: the CPU vmtui spends while nothing happens.

Runs the app headless (160x48) on pools of 8, 32 and 128 scripted instances,
all running and silent, and measures the process CPU time over a window after
a warm-up: first on the pool screen, then on one instance screen with the
inspector tabs open (their QMP queries polled once a second). Scripted
instances cost nothing themselves: this measures the UI, the bridge and the
fleet. Each figure is a median of ``--runs`` windows with its spread.

    python bench/idle.py [--seconds 10] [--runs 3]

Target: 128 instances idle on the pool screen within 3% of a core; the last
line is ``idle 128 on the pool screen / target: X.XX`` (at most 1).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from vmtui.app import VmtuiApp
from vmtui.backends.config.pool import parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.widgets.inspector import Inspector

SIZE = (160, 48)
TARGET = 3.0  # percent of a core


def fleet_of(count: int, workdir: Path) -> Fleet:
    data = {"name": "idle", "type": "scripted", "count": count, "workdir": str(workdir),
            "vm": {"lines": ["[    0.000000] Linux version 6.1 (scripted)", "login:"]}}
    return Fleet(parse_config(data, file="<bench>", base_dir=workdir))


async def cpu_percent(seconds: float) -> float:
    began, cpu = time.monotonic(), time.process_time()
    await asyncio.sleep(seconds)
    return 100 * (time.process_time() - cpu) / (time.monotonic() - began)


async def measure(count: int, seconds: float, runs: int, workdir: Path
                  ) -> tuple[list[float], list[float]]:
    app = VmtuiApp(LocalControl(fleet_of(count, workdir)))
    pool: list[float] = []
    inspect: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        deadline = time.monotonic() + 60
        while not all(s.state.value == "running" for s in app.bridge.snapshot()):
            assert time.monotonic() < deadline, "the pool did not come up"
            await pilot.pause(0.1)
        await pilot.pause(3)  # warm-up: first paints, caches
        for _ in range(runs):
            pool.append(await cpu_percent(seconds))
        await pilot.press("enter")  # the first instance, its inspectors shown at this width
        await pilot.pause(1)
        inspector = app.screen.query_one(Inspector)
        assert inspector.display, "the inspector is not shown"
        await pilot.pause(3)
        for _ in range(runs):
            inspect.append(await cpu_percent(seconds))
    return pool, inspect


def describe(values: list[float]) -> str:
    return (f"{statistics.median(values):5.2f}% (runs: "
            f"{', '.join(f'{v:.2f}' for v in values)})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="8,32,128")
    args = parser.parse_args()
    last = 0.0
    with tempfile.TemporaryDirectory(prefix="vmtui-bench-idle-") as tmp:
        for count in (int(x) for x in args.sizes.split(",")):
            pool, inspect = await measure(count, args.seconds, args.runs,
                                          Path(tmp) / f"p{count}")
            print(f"{count:4d} instances: pool screen {describe(pool)}; "
                  f"instance screen with inspectors {describe(inspect)}", flush=True)
            last = statistics.median(pool)
    print(f"idle {count} on the pool screen / target: {last / TARGET:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
