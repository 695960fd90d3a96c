"""A scripted VM type: prints given lines and echoes typed input. No real VM.

For deterministic screen snapshots and scripted edge cases (hostile console
content, boot failures, a broken event stream). Its pause, resume and reset
emit the events QEMU would (STOP, RESUME, RESET). Real features are proven
on QEMU guests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from vmtui.backends.config.schema import spec
from vmtui.backends.ssh.session import GuestError
from vmtui.backends.vm import (
    BootError,
    Instance,
    Pool,
    RunResult,
    StateError,
    VMError,
    register,
)
from vmtui.backends.vm.merger import OutputMerger
from vmtui.backends.vm.qmp_types import (
    CPU,
    BlockDevice,
    BlockStats,
    Event,
    PCIDevice,
    Status,
    Version,
    VMSnapshot,
)


@dataclass(frozen=True)
class ScriptedConfig:
    """Console lines to print; ``{name}`` and ``{index}`` are filled in."""

    lines: list[str] = spec(default_factory=list, help="console lines printed at boot")
    boot_seconds: float = spec(0.0, min=0, max=3600, help="time the boot takes")
    fail: list[int] = spec(default_factory=list, help="indexes whose boot fails")
    cpus: int = spec(2, min=1, max=64, help="vCPUs the canned inspector reports")
    host: str = spec("", help="the host the pool claims to run on (for screens)")
    bugs: list[str] = spec(default_factory=list, help="calls that fail as a bug would "
                           "(for the daemon's error tests): 'snapshots' raises a ValueError, "
                           "'take_snapshot' a KeyError naming the instance")


class ScriptedInstance(Instance):
    """Echoes what is typed into its console, like a terminal in cooked mode."""

    def __init__(self, name: str, output: OutputMerger, cpus: int = 2,
                 bugs: frozenset[str] = frozenset()) -> None:
        self.name = name
        self.bugs = bugs
        self._output = output
        self.domain = ScriptedDomain(cpus)
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._subs: set[asyncio.Queue[Event | None]] = set()
        self.guest = ScriptedGuest(name, output)
        self._snapshots: dict[str, VMSnapshot] = {}
        self.events_broken = False  # the next event breaks the stream (a QMP hiccup)
        # Each vCPU's (RIP, CPL, halted), as ``info registers -a`` shows them.
        self.vcpus = [(0xffffffff81000000 + 0x10 * i, 0, True) for i in range(cpus)]

    # -- events and lifecycle, as QEMU's QMP would give them ---------------------

    def emit(self, name: str) -> None:
        """Send event ``name`` to every subscriber."""
        event = Event(name, {}, time.time())
        for queue in self._subs:
            queue.put_nowait(event)

    async def _events(self, queue: asyncio.Queue[Event | None]) -> AsyncIterator[Event]:
        while (event := await queue.get()) is not None:
            if self.events_broken:
                self.events_broken = False
                raise VMError(f"{self.name}: the event stream broke")
            yield event

    def subscribe_events(self) -> ScriptedEvents:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subs.add(queue)
        return ScriptedEvents(self, queue)

    async def pause(self) -> None:
        self.domain.running = False
        self.emit("STOP")

    async def resume(self) -> None:
        self.domain.running = True
        self.emit("RESUME")

    async def reset(self) -> None:
        self.emit("RESET")

    async def powerdown(self, timeout: float = 30.0) -> int:
        self.crash(0)
        return 0

    async def wait_ready(self, timeout: float | None = None) -> float:
        return 0.0

    @property
    def inspector(self) -> ScriptedDomain:
        return self.domain

    def facts(self) -> list[tuple[str, str]]:
        return [("QMP socket", str(self.domain.socket))]

    async def open_debug_stub(self) -> str:
        # The shape of QEMU's: a unix socket in the private runtime folder.
        return (f"gdb -ex 'target remote {self.domain.socket.parent}/{self.name}.gdb'"
                "  # scripted: no stub listens")

    async def close_debug_stub(self) -> None:
        return None

    # -- VM snapshots: kept in memory, stamped with a fixed clock ---------------

    async def snapshots(self) -> list[VMSnapshot]:
        if "snapshots" in self.bugs:
            raise ValueError("scripted bug in snapshots")
        return list(self._snapshots.values())

    async def take_snapshot(self, tag: str) -> None:
        if "take_snapshot" in self.bugs:
            raise KeyError(self.name)  # looks like "no such instance"; it is a bug
        n = len(self._snapshots)
        self._snapshots[tag] = VMSnapshot(tag, (n + 1) << 20, 86400.0 * (n + 1), 10.0 * (n + 1))

    async def restore_snapshot(self, tag: str) -> None:
        if tag not in self._snapshots:
            raise StateError(f"{self.name}: no snapshot {tag!r}")
        self._output.feed("console", f"[scripted] back at snapshot {tag}\n".encode())

    async def delete_snapshot(self, tag: str) -> None:
        self._snapshots.pop(tag, None)

    def exited(self) -> bool:
        return self._exit.done()

    async def wait_exit(self) -> int:
        return await asyncio.shield(self._exit)

    async def write_console(self, data: bytes) -> None:
        self._output.feed("console", data.replace(b"\r", b"\n"))

    async def send_sysrq(self, letter: str) -> None:
        self._output.feed("console", f"sysrq: scripted SysRq {letter}\n".encode())

    async def registers(self) -> dict[int, str]:
        return {cpu.index: f"RIP=ffffffff8100{cpu.index:04x} RSP=ffffc90000000000\n"
                for cpu in await self.domain.cpus()}

    async def registers_all(self) -> str:
        """``info registers -a`` in QEMU's layout, from :attr:`vcpus`."""
        return "".join(f"\nCPU#{i}\nRAX=0000000000000000 RBX=0000000000000000\n"
                       f"RIP={rip:016x} RFL=00000246 [---Z-P-] CPL={cpl} II=0 A20=1 SMM=0 "
                       f"HLT={int(halted)}\nCR0=80050033 CR2=0000000000000000\n"
                       for i, (rip, cpl, halted) in enumerate(self.vcpus))

    async def inject_nmi(self) -> None:
        self._output.feed("console", b"NMI received (scripted)\n")

    def crash(self, status: int = 137) -> None:
        """Pretend the VM process died."""
        if not self._exit.done():
            self._exit.set_result(status)

    async def close(self) -> None:
        self.crash(0)
        for queue in self._subs:
            queue.put_nowait(None)


class ScriptedGuest:
    """Plays a guest's shell for the farm loop, with a few words separated by ';':
    ``echo TEXT`` (a line on stdout), ``panic TEXT`` (a kernel panic on the
    console), ``sleep SECONDS``, ``exit STATUS``, and ``if A B STEP``, which runs
    STEP only when A equals B (for ``{round}`` and ``{index}``). Copies are only
    remembered."""

    def __init__(self, name: str, output: OutputMerger) -> None:
        self.name = name
        self.output = output
        self.copies: list[tuple[Path, str]] = []
        self.reads: dict[str, bytes] = {}  # what read() answers, by command

    async def run(self, command: str, timeout: float | None = 60.0,
                  keep: bool = True) -> RunResult:
        out = bytearray()
        for step in command.split(";"):
            word, _, arg = step.strip().partition(" ")
            while word == "if":
                left, right, rest = (arg.split(" ", 2) + ["", ""])[:3]
                word, _, arg = rest.partition(" ") if left == right else ("", "", "")
            if word == "echo":
                self.output.feed("stdout", f"{arg}\n".encode())
                out += f"{arg}\n".encode()
            elif word == "panic":
                self.output.feed("console", f"Kernel panic - not syncing: {arg}\n".encode())
            elif word == "sleep":
                await asyncio.sleep(float(arg))
            elif word == "exit":
                return RunResult(int(arg), bytes(out), b"")
            elif word:
                raise GuestError(f"{self.name}: the scripted guest has no {word!r}")
        return RunResult(0, bytes(out) if keep else b"", b"")

    async def read(self, command: str, timeout: float = 30.0) -> bytes:
        """The output :attr:`reads` holds for ``command``, kept out of the console."""
        if command not in self.reads:
            raise GuestError(f"{self.name}: the scripted guest cannot read {command!r}")
        return self.reads[command]

    async def copy_in(self, local: Path, remote: str | None = None) -> str:
        dest = remote or f"/tmp/{local.name}"
        self.copies.append((local, dest))
        return dest

    async def close(self) -> None:
        return None


class ScriptedEvents:
    """One subscriber's events; iterate it, close it when done."""

    def __init__(self, inst: ScriptedInstance, queue: asyncio.Queue[Event | None]) -> None:
        self._inst = inst
        self._queue = queue

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._inst._events(self._queue)

    def close(self) -> None:
        self._inst._subs.discard(self._queue)
        self._queue.put_nowait(None)


class ScriptedPool(Pool):
    def host(self) -> str:
        cfg: ScriptedConfig = self.env.config
        return cfg.host

    async def create(self, name: str, workdir: Path, index: int,
                     output: OutputMerger) -> ScriptedInstance:
        cfg: ScriptedConfig = self.env.config
        for line in cfg.lines:
            output.feed("console", (line.format(name=name, index=index) + "\n").encode())
        if cfg.boot_seconds:
            await asyncio.sleep(cfg.boot_seconds)
        if index in cfg.fail:
            raise BootError(f"{name}: scripted boot failure", output.tail())
        return ScriptedInstance(name, output, cfg.cpus, frozenset(cfg.bugs))


register("scripted", ScriptedPool, ScriptedConfig)


class ScriptedDomain:
    """Canned QMP answers, typed like the real Domain's, for deterministic screens."""

    socket = Path("/run/vmtui/scripted.qmp")

    def __init__(self, cpus: int) -> None:
        self._cpus = cpus
        self.running = True

    async def status(self) -> Status:
        return Status("running", True) if self.running else Status("paused", False)

    async def version(self) -> Version:
        return Version(7, 2, 0, "scripted")

    async def block_devices(self) -> list[BlockDevice]:
        return [BlockDevice("disk0", "disk0-dev", "#block101", "/images/disk0.qcow2", "qcow2",
                            False, False)]

    async def block_stats(self) -> list[BlockStats]:
        return [BlockStats("disk0", "", 1 << 20, 4096, 12, 1, 1)]

    async def pci_devices(self) -> list[PCIDevice]:
        return [PCIDevice(0, 0, 0, 0x0600, "Host bridge", 0x8086, 0x1237, ""),
                PCIDevice(0, 2, 0, 0x0200, "Ethernet controller", 0x1AF4, 0x1000, "net0"),
                PCIDevice(0, 3, 0, 0x0100, "SCSI controller", 0x1AF4, 0x1001, "disk0-dev")]

    async def cpus(self) -> list[CPU]:
        return [CPU(i, f"/machine/unattached/device[{i}]", 1000 + i, "x86_64", i, 0, 0)
                for i in range(self._cpus)]
