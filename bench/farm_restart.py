"""Farm restart benchmark: crash seen → the workload running again, reboot vs reset.

One real TCG guest of the test guest runs a workload whose every round prints
a marker with its number and, on odd rounds, crashes the kernel with SysRq c.
For each crash the time from the instance turning ``crashed`` (the console's
panic line) to the next round's marker on its stdout is measured, with the
farm restarting the VM as a new QEMU process (``recycle: reboot``) and by a
reset in the same process (``recycle: reset``). The restart includes writing
the incident (0.5 s of console after the crash here), the boot, SSH and the
start of the next command.

    python bench/farm_restart.py [--crashes 3]

Prints each measurement, then per mode the median and the spread, and last
``reset vs reboot: X.XXx`` (the reboot median over the reset median).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from vmtui.backends.base import InstanceState
from vmtui.backends.config import parse_config
from vmtui.backends.fleet import Fleet
from vmtui.backends.ring import SOURCE, TEXT
from vmtui.demo import demo_dict
from vmtui.guest.build import build

RUN = ("echo bench-round-{round}; if [ $(( {round} % 2 )) = 1 ]; then sleep 0.5; "
       "echo c > /proc/sysrq-trigger; sleep 600; fi; "
       "while [ ! -e /tmp/next ]; do sleep 0.1; done; rm /tmp/next")


async def measure(recycle: str, crashes: int, workdir: Path) -> list[float]:
    data = demo_dict(build(), count=1, workdir=workdir)
    data["workload"] = {"run": RUN, "recycle": recycle, "backoff": 0, "restart": "always",
                        # Every round of this workload is cut by a crash or by the next one.
                        "max_restarts": 100}
    fleet = Fleet(parse_config(data, file="<bench>", base_dir=workdir))
    fleet.watch.after_seconds = 0.5
    rec = fleet.record("demo-0")
    seen: list[float] = []

    def markers() -> int:
        return sum(1 for line in rec.ring.since(0)[0]
                   if line[SOURCE] == "stdout" and line[TEXT].startswith("bench-round-"))

    async def until(cond: object, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not cond():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise TimeoutError(f"{recycle}: stuck in {rec.state.value} ({rec.phase})")
            await asyncio.sleep(0.01)

    try:
        await fleet.start()
        for _ in range(crashes):
            await until(lambda: rec.state is InstanceState.CRASHED, 120)
            crashed = time.monotonic()
            before = markers()
            # The round after the crash prints its marker: the workload runs again.
            await until(lambda b=before: markers() >= b + 1, 120)
            seen.append(time.monotonic() - crashed)
            print(f"{recycle}: crash -> workload running again {seen[-1]:.2f}s", flush=True)
            # The even round runs without crashing; have it end so an odd one comes.
            await fleet.guest("demo-0").run("touch /tmp/next", timeout=30)
    finally:
        await fleet.close()
    return seen


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crashes", type=int, default=3, help="crashes per mode (3)")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for recycle in ("reboot", "reset"):
            results[recycle] = await measure(recycle, args.crashes, Path(tmp) / recycle)
    for recycle, times in results.items():
        spread = max(times) - min(times)
        print(f"{recycle}: median {statistics.median(times):.2f}s, spread {spread:.2f}s "
              f"over {len(times)} crashes ({', '.join(f'{t:.2f}' for t in times)})")
    ratio = statistics.median(results["reboot"]) / statistics.median(results["reset"])
    print(f"reset vs reboot: {ratio:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
