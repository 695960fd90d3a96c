"""Restart benchmark: crash seen → the VM running again and the workload too.

One real TCG guest of the test guest (with a qcow2 disk, which holds snapshots)
runs a workload whose every round prints a marker with its number and, on odd
rounds, crashes the kernel with SysRq c. For each crash it measures the time
from the instance turning ``crashed`` (the console's panic line) to the VM
running again (SSH answering) and to the next round's marker on its stdout,
with the farm restarting the VM

- ``reboot``: a new QEMU process, a cold boot;
- ``reset``: a reset in the same process, a boot all the same;
- ``snapshot``: a restore (loadvm) of the snapshot the farm took once the VM
  first ran, its clock set afterwards over a new SSH session.

The restart includes writing the incident (0.5 s of console after the crash
here) and the start of the next command. Then the other way to come back from
a saved state is measured: QEMU's incoming migration from a state file written
once (``migrate exec:``), a new process per restore, to SSH answering.

    python bench/restart.py [--crashes 3]

Prints each measurement, then per mode the median and spread, and last
``snapshot restart median: X.XXs`` (target: at most 1 s to running).
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
from vmtui.backends.console.ring import SOURCE, TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.qemu import QemuInstance
from vmtui.backends.ssh.target import wait_for_ssh
from vmtui.backends.vm.state import InstanceState
from vmtui.demo import demo_dict
from vmtui.guest.build import build

RUN = ("echo bench-round-{round}; if [ $(( {round} % 2 )) = 1 ]; then sleep 0.5; "
       "echo c > /proc/sysrq-trigger; sleep 600; fi; "
       "while [ ! -e /tmp/next ]; do sleep 0.1; done; rm /tmp/next")


def state_disk(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    disk = workdir / "state.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    return disk


async def measure(recycle: str, crashes: int, workdir: Path
                  ) -> tuple[list[float], list[float]]:
    data = demo_dict(build(), count=1, workdir=workdir)
    data["vm"]["devices"] = [{"kind": "block", "file": str(state_disk(workdir)),
                              "format": "qcow2"}]
    data["workload"] = {"run": RUN, "recycle": recycle, "backoff": 0, "restart": "always",
                        # Every round of this workload is cut by a crash or by the next one.
                        "max_restarts": 100}
    fleet = Fleet(parse_config(data, file="<bench>", base_dir=workdir))
    fleet.watch.after_seconds = 0.5
    rec = fleet.record("demo-0")
    seen: list[float] = []
    running: list[float] = []

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
            await until(lambda: rec.state is InstanceState.RUNNING, 120)
            running.append(time.monotonic() - crashed)
            # The round after the crash prints its marker: the workload runs again.
            await until(lambda b=before: markers() >= b + 1, 120)
            seen.append(time.monotonic() - crashed)
            print(f"{recycle}: crash -> running {running[-1]:.2f}s, -> workload running "
                  f"again {seen[-1]:.2f}s", flush=True)
            # The even round runs without crashing; have it end so an odd one comes.
            await fleet.guest("demo-0").run("touch /tmp/next", timeout=30)
        if recycle == "snapshot":
            # A restored guest is a correct guest: its clock is now, not the snapshot's.
            out = await fleet.guest("demo-0").run("date +%s", timeout=30)
            skew = abs(int(out.stdout) - time.time())
            print(f"snapshot: guest clock off by {skew:.0f}s after the last restore")
            assert skew < 5, skew
            assert b"restored the snapshot" in rec.console_log.read_bytes()
    finally:
        await fleet.close()
    return running, seen


async def migration(runs: int, workdir: Path) -> list[float]:
    """A state file written once by migration; each run a new QEMU restoring it
    (``-incoming``) until SSH answers."""
    data = demo_dict(build(), count=1, workdir=workdir)
    data["vm"]["devices"] = [{"kind": "block", "file": str(state_disk(workdir)),
                              "format": "qcow2"}]
    fleet = Fleet(parse_config(data, file="<bench>", base_dir=workdir))
    times = []
    try:
        await fleet.start()
        inst = fleet.instance("demo-0")
        assert isinstance(inst, QemuInstance) and inst.ssh is not None
        state = workdir / "vm.state"
        await inst.domain.execute("migrate", {"uri": f"exec:cat > {state}"})
        while (await inst.domain.execute("query-migrate")).get("status") != "completed":
            await asyncio.sleep(0.05)
        argv, target = list(inst.argv), inst.ssh
        await fleet.stop("demo-0")
        for _ in range(runs):
            start = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                *argv, "-incoming", f"exec:cat {state}", stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            try:
                await wait_for_ssh(target, 60)
                times.append(time.monotonic() - start)
            finally:
                proc.kill()
                await proc.wait()
            print(f"incoming migration: new process -> SSH {times[-1]:.2f}s "
                  f"({state.stat().st_size / 2**20:.0f} MiB state)", flush=True)
    finally:
        await fleet.close()
    return times


def spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):.2f}s (min {min(values):.2f}, max "
            f"{max(values):.2f}; {', '.join(f'{t:.2f}' for t in values)})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crashes", type=int, default=3, help="crashes per mode (3)")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for recycle in ("reboot", "reset", "snapshot"):
            results[recycle] = await measure(recycle, args.crashes, Path(tmp) / recycle)
        incoming = await migration(args.crashes, Path(tmp) / "migration")
    for recycle, (running, seen) in results.items():
        print(f"{recycle}: crash -> running {spread(running)}; -> workload {spread(seen)}")
    print(f"incoming migration from a state file: new process -> SSH {spread(incoming)}")
    print(f"snapshot restart median: {statistics.median(results['snapshot'][0]):.2f}s")


if __name__ == "__main__":
    asyncio.run(main())
