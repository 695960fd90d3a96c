"""Cost of the stuck-vCPU sampler: 32 silent instances sampled once a second.

The instances are of the scripted type, but each one's ``info registers -a``
goes through vmtui's real QMP client (``Domain.hmp``, qemu.qmp) over a Unix
socket to a fake QMP server in a child process, which answers with a
two-vCPU register dump of QEMU 7.2's size and shape: both vCPUs halted (an
idle guest, the common case: sampled every fifth period), or with ``--busy``
both in the kernel, in another function each time (sampled every period, and
never stuck, so no verdict ends the sampling). The sampler
has a kernel-sized symbol table (47,000 code symbols). The child's CPU is not
counted: this measures vmtui's side (client, JSON, parsing, the detector).

The figure is this process's CPU with the sampler on, less the same fleet
with it off (the scripted fleet's own idle cost), each the median of
``--runs`` windows, with the spread.

    python bench/stuck_vcpu.py [--count 32] [--seconds 10] [--runs 3] [--busy]

Target: at most 0.5% of a core for 32 idle instances (period 1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from vmtui.backends.config.pool import parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.monitor import kallsyms as ks
from vmtui.backends.qemu.domain import Domain
from vmtui.backends.scripted import ScriptedInstance

TARGET = 0.5  # percent of a core
XMM = "".join(f"XMM{i:02d}=0000000000000000 0000000000000000 " + ("\n" if i % 2 else "")
              for i in range(16))


def registers(cpus: int = 2, rip: str = "ffffffffa7c17a0b", cpl: int = 0,
              hlt: int = 1) -> str:
    """A register dump of QEMU 7.2's shape (every line it prints for a vCPU)."""
    one = (
        "RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000000 RDX=4000000000000000\n"
        "RSI=0000000000000000 RDI=000000000000d6a4 RBP=ffffffffa8c1aa40 RSP=ffffffffa8c03e98\n"
        "R8 =ffffffffffc59893 R9 =00000000314dc094 R10=00000000fffffffb R11=0000000000000000\n"
        "R12=0000000000000000 R13=0000000000000000 R14=0000000000000000 R15=0000000000014790\n"
        f"RIP={rip} RFL=00000246 [---Z-P-] CPL={cpl} II=0 A20=1 SMM=0 HLT={hlt}\n"
        + "".join(f"{seg} =0000 0000000000000000 00000000 00000000\n"
                  for seg in ("ES", "CS", "SS", "DS", "FS", "GS"))
        + "LDT=0000 0000000000000000 00000000 00008200 DPL=0 LDT\n"
        "TR =0040 fffffe0000003000 00004087 00008900 DPL=0 TSS64-avl\n"
        "GDT=     fffffe0000001000 0000007f\nIDT=     fffffe0000000000 00000fff\n"
        "CR0=80050033 CR2=00000000004f03ca CR3=0000000008010000 CR4=000006b0\n"
        "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000\n"
        "DR6=00000000ffff0ff0 DR7=0000000000000400\nEFER=0000000000000d01\n"
        "FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80\n"
        + "".join(f"FPR{i}=0000000000000000 0000 FPR{i + 1}=0000000000000000 0000\n"
                  for i in range(0, 8, 2)) + XMM)
    return "".join(f"\nCPU#{i}\n{one}" for i in range(cpus))


def kallsyms(count: int = 47000) -> bytes:
    lines = ["ffffffffa7000000 T _text"]
    lines += [f"{0xffffffffa7000000 + 0x100 * i:016x} t func_{i}" for i in range(1, count)]
    return ("\n".join(lines) + "\n").encode()


async def serve(folder: Path, count: int, busy: bool) -> None:
    """Fake QMP servers answering ``human-monitor-command`` with :func:`registers`:
    idle (both vCPUs halted), or ``busy`` in the kernel, a new function each time."""
    answers = [registers(rip=f"{0xffffffffa7000000 + 0x1000 * (1 + i % 7):016x}", hlt=0)
               for i in range(7)] if busy else [registers()]
    asked = 0
    greeting = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0},
                                    "package": ""}, "capabilities": ["oob"]}}

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal asked
        writer.write(json.dumps(greeting).encode() + b"\r\n")
        decoder, pending = json.JSONDecoder(), ""
        while chunk := await reader.read(65536):  # a JSON stream: no newline after each
            pending += chunk.decode()
            while pending.strip():
                try:
                    msg, end = decoder.raw_decode(pending.lstrip())
                except json.JSONDecodeError:
                    break  # the rest of the message is still on its way
                pending = pending.lstrip()[end:]
                ret: Any = {}
                if msg.get("execute") == "human-monitor-command":
                    ret, asked = answers[asked % len(answers)], asked + 1
                reply = {"return": ret, **({"id": msg["id"]} if "id" in msg else {})}
                writer.write(json.dumps(reply).encode() + b"\r\n")
            await writer.drain()

    servers = [await asyncio.start_unix_server(one, path=str(folder / f"qmp{i}"))
               for i in range(count)]
    (folder / "ready").touch()
    await asyncio.gather(*(s.serve_forever() for s in servers))


def fleet_of(count: int, workdir: Path, samples: int) -> Fleet:
    data = {"name": "bench", "type": "scripted", "count": count, "workdir": str(workdir),
            "vm": {"lines": ["booted"]}, "stuck_vcpu_samples": samples,
            "stuck_vcpu_period": 1.0}
    return Fleet(parse_config(data, file="<bench>", base_dir=workdir))


async def windows(count: int, samples: int, seconds: float, runs: int, folder: Path
                  ) -> tuple[list[float], int]:
    fleet = fleet_of(count, folder / f"work{samples}", samples)
    domains = [Domain(f"bench-{i}", folder / f"qmp{i}") for i in range(count)]
    table = kallsyms()
    try:
        for domain in domains:
            await domain.connect()
        await fleet.start()
        for i, domain in enumerate(domains):
            inst = fleet.instance(f"bench-{i}")
            assert isinstance(inst, ScriptedInstance)
            inst.guest.reads = {ks.HEAD_READ: b"Linux bench\nffffffffa7000000 T _text\n",
                                ks.KERNEL_READ: table, ks.MODULES_READ: b"",
                                ks.MODULE_SYMBOLS_READ: b""}
            inst.registers_all = partial(domain.hmp, "info registers -a")  # type: ignore
        await asyncio.sleep(5)  # warm-up: the symbols read, the loops started
        taken = sum(d.taken for d in fleet.stuck.detectors.values())
        figures = []
        for _ in range(runs):
            began, cpu = time.monotonic(), time.process_time()
            await asyncio.sleep(seconds)
            figures.append(100 * (time.process_time() - cpu) / (time.monotonic() - began))
        taken = sum(d.taken for d in fleet.stuck.detectors.values()) - taken
        assert not fleet.incidents, "an idle guest got a verdict"
        return figures, taken
    finally:
        await fleet.close()
        for domain in domains:
            await domain.close()


def spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):.3f}% (runs "
            + ", ".join(f"{v:.3f}" for v in values) + ")")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy", action="store_true",
                        help="every vCPU busy in the kernel (moving): sampled every second")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        await serve(args.serve, args.count, args.busy)
        return
    with tempfile.TemporaryDirectory(prefix="vmtui-bench-") as tmp:
        folder = Path(tmp)
        child = subprocess.Popen([sys.executable, __file__, "--serve", tmp,
                                  "--count", str(args.count)] + ["--busy"] * args.busy)
        try:
            while not (folder / "ready").exists():
                await asyncio.sleep(0.05)
            off, _ = await windows(args.count, 0, args.seconds, args.runs, folder)
            on, taken = await windows(args.count, 5, args.seconds, args.runs, folder)
        finally:
            child.terminate()
            child.wait()
    per_second = taken / (args.seconds * args.runs) / 2  # two vCPUs a sample
    cost = [a - statistics.median(off) for a in on]
    what = "busy in the kernel" if args.busy else "idle"
    print(f"{args.count} instances {what}, sampler off: {spread(off)} of a core")
    print(f"{args.count} instances {what}, sampler on:  {spread(on)} of a core, "
          f"{per_second:.1f} samples/s")
    print(f"sampler's cost: {spread(cost)} of a core")
    print(f"stuck-vCPU sampler {args.count} instances {what} / target: "
          f"{statistics.median(cost) / TARGET:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
