"""VM snapshot benchmark: restoring a snapshot against a cold boot, both to SSH.

Each run boots one test guest (TCG) with a qcow2 disk to hold the VM state,
timing the boot until SSH answers; takes a snapshot; then restores it, timing
the restore itself and the restore until a new SSH session answers. Three runs.

    python bench/snapshot_restore.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from vmtui.backends.config.pool import parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.demo import demo_dict
from vmtui.guest.build import build


async def one_run(tmp: Path) -> tuple[float, float, float, float]:
    disk = tmp / "state.qcow2"
    disk.unlink(missing_ok=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    data = demo_dict(build(), count=1, workdir=tmp / "work")
    data["name"] = "bench"
    data["vm"]["devices"] = [{"kind": "block", "file": str(disk), "format": "qcow2"}]
    fleet = Fleet(parse_config(data, file="<bench>", base_dir=tmp))
    start = time.monotonic()
    await fleet.start()
    cold = time.monotonic() - start
    try:
        shell, snaps = fleet.guest("bench-0"), fleet.vm_snapshots("bench-0")
        await shell.run("echo marker > /root/marker", timeout=30)
        start = time.monotonic()
        await snaps.take_snapshot("bench")
        take = time.monotonic() - start
        await shell.run("rm /root/marker", timeout=30)
        start = time.monotonic()
        await snaps.restore_snapshot("bench")
        restore = time.monotonic() - start
        out = await shell.run("cat /root/marker", timeout=60)
        to_ssh = time.monotonic() - start
        assert out.stdout == b"marker\n", out
    finally:
        await fleet.close()
    return cold, take, restore, to_ssh


async def main(runs: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="vmtui-bench-") as tmp:
        for n in range(1, runs + 1):
            cold, take, restore, to_ssh = await one_run(Path(tmp))
            rows.append((cold, take, restore, to_ssh))
            print(f"run {n}: cold boot to SSH {cold:.2f} s; take {take:.2f} s; restore "
                  f"{restore:.2f} s, restore to an SSH answer {to_ssh:.2f} s")
    for i, what in enumerate(("cold boot to SSH", "take", "restore", "restore to SSH")):
        values = [r[i] for r in rows]
        print(f"{what}: median {statistics.median(values):.2f} s "
              f"(range {min(values):.2f}-{max(values):.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args().runs))
