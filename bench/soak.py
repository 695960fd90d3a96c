"""Soak: a pool of real guests under the farm loop while a chaos driver hurts them.

Every guest runs a workload that prints numbered lines, each run under its own
token, both on its serial console and on the command's stdout. A chaos driver
picks an instance and a fault at random every few seconds: kill -9 of QEMU,
SIGSTOP then SIGCONT, a reset, a kernel crash (SysRq c), a power-down (started
again a little later). At the end it checks and prints:

- lines: in every instance's console.log, each token's numbers run 1, 2, 3...
  with no gap and in order (what a fault cut off at the end of a run is all
  that may be missing: the guest had not sent it);
- no QEMU process left, and never two for one instance;
- no instance stuck booting longer than its boot timeout (plus a margin);
- vmtui's open fds and RSS, first against last fifth of the run;
- every crash and verdict has its incident folder;
- none of vmtui's own tasks failed (a farm loop that died would leave its VM idle).

    python bench/soak.py [--minutes 30] [--count 8] [--every 8]

The last line is ``soak: PASS`` or ``soak: FAIL (what)``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import re
import shutil
import signal
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from vmtui.backends.config.pool import parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.qemu import QemuInstance
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.state import InstanceState
from vmtui.demo import demo_dict
from vmtui.guest.build import build

# Each run: a token, then numbered lines on the serial console (S) and stdout (O).
RUN = ("t=$(cut -c1-8 /proc/sys/kernel/random/uuid); i=0; while true; do i=$((i+1)); "
       "echo soakS-$t-$i > /dev/ttyS0; echo soakO-$t-$i; sleep 0.2; done")
# A number ends its line, or a kernel message the guest printed into the middle of
# its own serial line begins there ("soakS-...-521[  127.58] ..."): the guest's
# kernel splices printk between a process's bytes and its newline; nothing is lost.
LINE = re.compile(r"soak([SO])-([0-9a-f]{8})-(\d+)(?:$|(?=\[ *\d+\.\d+\] ))", re.MULTILINE)
SPLICED = re.compile(r"soak[SO]-[0-9a-f]{8}-\d+\[ *\d+\.\d+\] ")
FAULTS = ("kill", "stop", "reset", "crash", "powerdown")
MARGIN = 60.0  # seconds beyond the boot timeout before a boot counts as stuck


@dataclass
class Report:
    minutes: float
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    runs: int = 0
    lines: int = 0
    gaps: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    doubles: list[str] = field(default_factory=list)
    orphans: set[int] = field(default_factory=set)
    missing_incidents: list[str] = field(default_factory=list)
    crashes: int = 0
    incidents: int = 0
    failures: list[str] = field(default_factory=list)  # vmtui's own tasks that broke
    spliced: int = 0  # numbered lines the guest's kernel printed a message into
    fds: list[tuple[float, int]] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)

    def flat(self, series: list[tuple[float, float]] | list[tuple[float, int]]) -> tuple[
            float, float]:
        """Medians of the first and the last fifth of ``series``."""
        span = self.minutes * 60
        first = [v for t, v in series if t <= span / 5] or [series[0][1]]
        last = [v for t, v in series if t >= span * 4 / 5] or [series[-1][1]]
        return statistics.median(first), statistics.median(last)

    def problems(self) -> list[str]:
        found = []
        if self.gaps:
            found.append(f"{len(self.gaps)} gaps")
        if self.stuck:
            found.append(f"stuck: {', '.join(self.stuck)}")
        if self.doubles:
            found.append(f"two QEMUs for {', '.join(self.doubles)}")
        if self.failures:
            found.append(f"{len(self.failures)} vmtui task failures")
        if self.orphans:
            found.append(f"{len(self.orphans)} QEMU orphaned")
        if self.missing_incidents:
            found.append(f"incidents missing: {', '.join(self.missing_incidents)}")
        fd0, fd1 = self.flat(self.fds)
        if fd1 > fd0 + 16:
            found.append(f"fds grew {fd0:.0f} -> {fd1:.0f}")
        rss0, rss1 = self.flat(self.rss)
        if rss1 > rss0 * 1.5 + 20:
            found.append(f"RSS grew {rss0:.0f} -> {rss1:.0f} MiB")
        return found


def qemu_pids(workdir: Path) -> dict[int, str]:
    """Live QEMU processes whose command line names ``workdir``: pid → instance."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z" or not argv[0].endswith(b"qemu-system-x86_64"):
            continue
        for arg in argv:
            if str(workdir).encode() in arg:
                found[int(entry.name)] = arg.decode(errors="replace").split(str(workdir))[1][:40]
                break
    return found


def rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def fault(fleet: Fleet, name: str, kind: str, rng: random.Random) -> None:
    rec = fleet.record(name)
    inst = rec.instance
    if kind in ("kill", "stop"):
        if not isinstance(inst, QemuInstance) or inst.exited():
            return
        if kind == "kill":
            os.kill(inst.pid, signal.SIGKILL)
        else:
            os.kill(inst.pid, signal.SIGSTOP)
            await asyncio.sleep(rng.uniform(1, 5))
            if not inst.exited():
                os.kill(inst.pid, signal.SIGCONT)
    elif kind == "reset":
        await fleet.reset(name)
    elif kind == "crash":
        await fleet.diagnose(name, "sysrq-c")
    elif kind == "powerdown":
        await fleet.powerdown(name, timeout=20)
        await asyncio.sleep(rng.uniform(1, 5))
        await fleet.boot(name)


async def chaos(fleet: Fleet, report: Report, stop: float, every: float, seed: int) -> None:
    rng = random.Random(seed)
    busy: set[str] = set()

    async def one(name: str, kind: str) -> None:
        try:
            await fault(fleet, name, kind, rng)
            report.faults[kind] += 1
        except (VMError, OSError, TimeoutError) as exc:
            report.faults[f"{kind} refused"] += 1
            print(f"  {name}: {kind}: {exc}", flush=True)
        finally:
            busy.discard(name)

    tasks = set()
    while time.monotonic() < stop:
        await asyncio.sleep(rng.uniform(every / 2, every * 1.5))
        running = [n for n, r in fleet.records.items()
                   if r.state is InstanceState.RUNNING and n not in busy]
        if running:
            name, kind = rng.choice(running), rng.choice(FAULTS)
            busy.add(name)
            task = asyncio.ensure_future(one(name, kind))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks, return_exceptions=True)


async def watch(fleet: Fleet, report: Report, began: float, stop: float) -> None:
    booting_since: dict[str, float] = {}
    timeout = fleet.config.pool.boot_timeout + MARGIN
    while time.monotonic() < stop:
        now = time.monotonic()
        for name, rec in fleet.records.items():
            if rec.state is InstanceState.BOOTING:
                since = booting_since.setdefault(name, now)
                if now - since > timeout and name not in report.stuck:
                    report.stuck.append(name)
            else:
                booting_since.pop(name, None)
        per = collections.Counter(qemu_pids(fleet.workdir).values())
        report.doubles += [n for n, k in per.items() if k > 1 and n not in report.doubles]
        report.fds.append((now - began, len(os.listdir("/proc/self/fd"))))
        report.rss.append((now - began, rss_mib()))
        await asyncio.sleep(2)


def check_lines(fleet: Fleet, report: Report) -> None:
    for rec in fleet.records.values():
        seen: dict[tuple[str, str], int] = {}
        text = rec.console_log.read_text(errors="replace")
        report.failures += [f"{rec.name}: {line}" for line in text.splitlines()
                            if line.startswith("[vmtui] ") and (
                                "background task" in line or "failed unexpectedly" in line)]
        report.spliced += len(SPLICED.findall(text))
        for kind, token, number in LINE.findall(text):
            n, key = int(number), (kind, token)
            last = seen.get(key, 0)
            if n != last + 1:
                report.gaps.append(f"{rec.name} {kind}-{token}: {last} then {n}"
                                   + _around(text, kind, token, last, n))
            seen[key] = n
            report.lines += 1
        report.runs += len(seen)


def _around(text: str, kind: str, token: str, last: int, n: int) -> str:
    """The log's raw text from the last line seen to the next one (what came
    between: a guest message spliced into the line, say)."""
    start = text.find(f"soak{kind}-{token}-{last}\n")
    end = text.find(f"soak{kind}-{token}-{n}\n", max(start, 0))
    if start < 0 or end < 0:
        return ""
    return "\n    | " + "\n    | ".join(text[start:end + 40].splitlines()[:30])


async def soak(minutes: float, count: int, every: float, workdir: Path, seed: int = 1
               ) -> Report:
    data = demo_dict(build(), count=count, workdir=workdir)
    data["name"] = "soak"
    data["workload"] = {"run": RUN, "backoff": 0.5, "restart": "always",
                        "max_restarts": 1000, "restart_window": 60}
    fleet = Fleet(parse_config(data, file="<soak>", base_dir=workdir))
    report = Report(minutes)
    began = time.monotonic()
    stop = began + minutes * 60
    try:
        await fleet.start()
        await asyncio.gather(chaos(fleet, report, stop, every, seed),
                             watch(fleet, report, began, stop))
        await fleet.watch.settle()
        for rec in fleet.records.values():
            filed = [i for i in fleet.incidents if i.instance == rec.name and i.kind != "diagnose"]
            report.crashes += rec.counters.crashes
            report.incidents += len(filed)
            if len(filed) < rec.counters.crashes or any(
                    i.error or not i.complete for i in filed):
                report.missing_incidents.append(rec.name)
    finally:
        await fleet.close()
    report.orphans = set(qemu_pids(fleet.workdir))
    check_lines(fleet, report)
    return report


def show(report: Report) -> str:
    fd0, fd1 = report.flat(report.fds)
    rss0, rss1 = report.flat(report.rss)
    faults = ", ".join(f"{k} {v}" for k, v in sorted(report.faults.items()))
    print(f"faults: {faults}")
    print(f"lines: {report.lines} numbered lines in {report.runs} runs, {len(report.gaps)} gaps"
          + "".join(f"\n  {g}" for g in report.gaps[:20]))
    print(f"  ({report.spliced} of them with a guest kernel message printed into the line "
          "by the guest itself)")
    print(f"crashes and verdicts: {report.crashes}, incidents: {report.incidents}")
    print(f"vmtui task failures: {len(report.failures)}"
          + "".join(f"\n  {f}" for f in report.failures[:10]))
    print(f"stuck booting: {report.stuck or 'none'}; two QEMUs at once: "
          f"{report.doubles or 'never'}; QEMU left after close: {len(report.orphans)}")
    print(f"vmtui fds {fd0:.0f} -> {fd1:.0f}, RSS {rss0:.0f} -> {rss1:.0f} MiB "
          "(first vs last fifth)")
    # The console rings fill for a while (8 lines/s into 10,000 lines: ~20 minutes):
    # RSS is flat only once they are full. Its median in each fifth of the run:
    fifths = [[v for t, v in report.rss if i * report.minutes * 12 <= t
               < (i + 1) * report.minutes * 12] for i in range(5)]
    print("RSS by fifth (MiB): " + ", ".join(f"{statistics.median(f):.0f}" if f else "-"
                                             for f in fifths))
    problems = report.problems()
    verdict = "PASS" if not problems else f"FAIL ({'; '.join(problems)})"
    print(f"soak: {verdict}")
    return verdict


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--every", type=float, default=8, help="seconds between faults")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vmtui-soak-"))
    verdict = show(await soak(args.minutes, args.count, args.every, tmp, args.seed))
    if verdict == "PASS":
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"the logs are kept in {tmp}")


if __name__ == "__main__":
    asyncio.run(main())
