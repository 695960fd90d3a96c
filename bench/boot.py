"""Boot readiness benchmark: the guest's own "up" line against vmtui's running state.

Boots pools of 1 and 4 real TCG guests of the test guest, each several rounds.
For every guest it prints the seconds from the pool's start to the console line
the guest prints once its SSH server runs ("vmtui-guest: up"), to vmtui marking
it running, and the lag between the two. The last line gives the median lag,
its spread over every guest of every round, and the worst one:

    python bench/boot.py [--rounds 3] [--sizes 1,4] [--parallel N]

Local QEMU boots take turns, one per host CPU at once (``vm.boot_parallel``;
``--parallel 0`` boots every guest of the pool at once, to compare). Each round
also prints when its first and its last guest were running.

Target: the worst lag within 0.5 s (``ready lag worst/target: X.XX``, at most 1).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from vmtui.backends.config.pool import parse_config
from vmtui.backends.console.ring import TEXT, TIME
from vmtui.backends.fleet.fleet import Fleet
from vmtui.demo import demo_dict
from vmtui.guest.build import build

UP = "vmtui-guest: up"
TARGET = 0.5


async def one_pool(count: int, workdir: Path,
                   parallel: int | None) -> list[tuple[str, float, float]]:
    """(name, up, running) in seconds from the start, for each guest."""
    data = demo_dict(build(), count=count, workdir=workdir)
    if parallel is not None:
        data["vm"]["boot_parallel"] = parallel
    fleet = Fleet(parse_config(data, file="<bench>", base_dir=workdir))
    began_wall, began = time.time(), time.monotonic()
    try:
        await asyncio.wait_for(fleet.start(), 300)
        rows = []
        for rec in fleet.records.values():
            if rec.running_at is None:
                raise RuntimeError(f"{rec.name}: {rec.state.value} {rec.error}")
            ups = [line[TIME] for line in rec.ring.since(0)[0] if UP in line[TEXT]]
            if not ups:
                raise RuntimeError(f"{rec.name}: no {UP!r} line on the console")
            rows.append((rec.name, ups[0] - began_wall, rec.running_at - began))
        return rows
    finally:
        await fleet.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="1,4")
    parser.add_argument("--parallel", type=int, default=None,
                        help="vm.boot_parallel (default: unset, one boot per host CPU)")
    args = parser.parse_args()
    lags: list[float] = []
    with tempfile.TemporaryDirectory(prefix="vmtui-bench-boot-") as tmp:
        for size in (int(x) for x in args.sizes.split(",")):
            for round_ in range(args.rounds):
                rows = await one_pool(size, Path(tmp) / f"p{size}-{round_}", args.parallel)
                for name, up, running in rows:
                    lags.append(running - up)
                    print(f"pool of {size}, round {round_ + 1}: {name} up {up:6.2f}s  "
                          f"running {running:6.2f}s  lag {running - up:+.2f}s", flush=True)
                ready = sorted(running for _, _, running in rows)
                print(f"pool of {size}, round {round_ + 1}: first running {ready[0]:.2f}s, "
                      f"all running {ready[-1]:.2f}s", flush=True)
    print(f"lag median {statistics.median(lags):.2f}s (min {min(lags):.2f}, max "
          f"{max(lags):.2f}) over {len(lags)} boots")
    print(f"ready lag worst/target: {max(lags) / TARGET:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
