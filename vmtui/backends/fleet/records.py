"""What the fleet keeps per instance slot, the snapshot it hands out, a pool's
totals, and the one guard for "this action needs these states and this capability"."""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vmtui.backends.console.path import BootConsole
from vmtui.backends.console.ring import TEXT, ConsoleRing
from vmtui.backends.console.sources import Input
from vmtui.backends.console.ssh_source import Replayed
from vmtui.backends.inert import EMPTY, GuestText
from vmtui.backends.monitor.crashes import CrashStore
from vmtui.backends.monitor.symbols import Symbols
from vmtui.backends.vm.contract import Instance
from vmtui.backends.vm.errors import StateError
from vmtui.backends.vm.state import LIVE as LIVE  # re-exported: its old home
from vmtui.backends.vm.state import WATCHED as WATCHED
from vmtui.backends.vm.state import InstanceState
from vmtui.backends.vm.tasks import Background


@dataclass(slots=True)
class Counters:
    """What an instance has been through since the fleet started."""

    rounds: int = 0  # workload rounds completed
    boots: int = 0  # boots started (first ones, restarts, resets)
    crashes: int = 0  # crashes and verdicts (hangs, lost VMs)
    restarts: int = 0  # restarts after a crash or a failed boot, by the farm
    booting_seconds: float = 0.0  # from each boot's start until it was running
    workload_seconds: float = 0.0  # rounds of the workload, summed
    up_seconds: float = 0.0  # VM processes alive, summed over ended boots

    def copy(self) -> Counters:
        return replace(self)


@dataclass(frozen=True, slots=True)
class InstanceSnapshot:
    """What the pool table shows of one instance, at one moment.

    Every string that may hold guest text is a :class:`GuestText` (inert).
    """

    name: str
    index: int
    state: InstanceState
    uptime: float | None
    lines_per_sec: float
    lines: int
    last_line: GuestText
    error: GuestText
    workdir: Path
    title: GuestText = EMPTY  # the crash or verdict title, once there is one
    hung_in: float | None = None  # seconds before a silent VM is declared hung
    held: bool = False
    gdb: str = ""  # the gdb command, while held
    fault: GuestText = EMPTY  # a background task of this instance failed
    boot_output: bool = False  # a failed boot left its console tail
    counters: Counters | None = None  # a copy, taken with the snapshot
    phase: str = ""  # what the farm loop is doing ("round 3", "restarting in 2s")
    since_boot: float | None = None  # seconds since the last boot reached running
    pool: str = ""  # the pool it belongs to (several may be shown together)
    console_bytes: int = 0  # bytes of console output the VM printed (this run)
    fresh: bool = False  # this vmtui run booted its VM (not one already up it attached to)


@dataclass(frozen=True, slots=True)
class PoolTotals:
    """The pool header's figures."""

    vm_hours: float  # VM processes alive, summed over instances
    crashes: int  # crashes and verdicts this run
    crashes_per_hour: float  # per hour since the fleet started
    unique: int  # distinct crash titles this run


class Rate:
    """Lines per second over a window of a couple of seconds."""

    def __init__(self) -> None:
        self._t0: float | None = None
        self._n0 = 0
        self.value = 0.0

    def update(self, now: float, total: int) -> float:
        if self._t0 is None:
            self._t0, self._n0 = now, total
        elif now - self._t0 >= 1.0:
            self.value = (total - self._n0) / (now - self._t0)
            self._t0, self._n0 = now, total
        return self.value


class InstanceRecord:
    """Everything the fleet tracks about one instance slot."""

    def __init__(self, name: str, index: int, workdir: Path, ring_lines: int,
                 tasks: Background) -> None:
        self.name = name
        self.index = index
        self.workdir = workdir
        self.state = InstanceState.OFFLINE
        self.state_changed = asyncio.Event()
        self.ring = ConsoleRing(ring_lines)
        self.instance: Instance | None = None
        self.console: BootConsole | None = None  # the boot's, from its start to its end
        self.disk_fault = ""  # why console.log cannot be written, while it cannot
        self.events_unwritten = 0  # events that events.jsonl did not take, in a row
        self.frozen = False  # paused because its VM process is stopped (SIGSTOP)
        self.started_at: float | None = None
        self.error = ""
        self.rate = Rate()
        self.tasks = tasks
        self.boot_task: asyncio.Task[None] | None = None
        self.events: collections.deque[Any] = collections.deque(maxlen=1000)
        self.resume_to = InstanceState.RUNNING  # where RESUME leads back to
        self.host_lost = ""  # why the VM's host is unreachable (libvirt), while it is
        self.stopping = False  # an operator asked it to stop: its exit is no loss
        self.last_output = 0.0  # fleet clock time of the last console line
        self.title = EMPTY
        self.held = False
        self.gdb = ""
        self.fault = ""  # the last background failure, until it is mended
        self.boot_output = b""  # console tail of the last failed boot
        self.counters = Counters()
        self.fresh = False  # this run booted the VM it has (see InstanceSnapshot.fresh)
        self.running_at: float | None = None  # clock time the last boot reached running
        self.boot_began = 0.0  # clock time the last boot began
        self.boot_seq = 0  # the ring's first line of the last boot
        self.crash_seq = 0  # the ring's line where the last crash report starts
        self.phase = ""  # the farm loop's step, shown in the pool table
        self.incident: asyncio.Task[Any] | None = None  # the incident being written
        # What the ssh console saw, to drop what it replays: kept across boots,
        # since a restart of vmtui's instance may be within one boot of the machine.
        self.replayed = Replayed()
        self.symbols: Symbols | None = None  # the kernel's, this boot (fleet/stuck.py)
        self.symbols_asked = -1  # the boot whose symbols the CPUs tab asked for

    def fresh_boot(self) -> None:
        """Forget what the last boot left: its title, fault and boot output."""
        self.stopping = False
        self.title = GuestText()
        self.fault = self.disk_fault = ""
        self.frozen = False
        self.boot_output = b""
        self.symbols = None  # KASLR: the next boot's kernel sits elsewhere

    def console_inputs(self) -> dict[str, Input]:
        """The console sources open now that take typed bytes, by tag."""
        return self.console.inputs if self.console is not None else {}

    def instance_exited(self) -> bool:
        """Whether there is no live VM process behind this record."""
        return self.instance is None or self.instance.exited()

    @property
    def console_log(self) -> Path:
        return self.workdir / "console.log"


# What each capability of vm/capabilities.py is, for a person told it is missing.
CAPABILITIES = {
    "Lifecycle": "power controls (pause, reset, power down): vmtui does not run the machine",
    "Diagnosable": "access to the machine's CPUs (registers, NMI)",
    "Inspectable": "QMP inspectors", "Snapshots": "VM snapshots", "DebugStub": "gdb stub",
    "ConsoleWriter": "console input", "GuestAccess": "SSH into the guest",
}


def require(rec: InstanceRecord, states: tuple[InstanceState, ...], doing: str,
            capability: type[Any]) -> Any:
    """The live instance behind ``rec``, as ``capability`` (a Protocol of
    :mod:`vmtui.backends.vm.capabilities`), for ``doing`` it. Annotate what it returns:
    mypy takes no Protocol class for a ``type[T]``.

    Raises:
        StateError: ``rec`` is not in one of ``states``, has no instance, or
            its VM type lacks ``capability`` (the message says which).
    """
    inst = rec.instance
    if inst is None or rec.state not in states:
        raise StateError(f"{rec.name}: cannot {doing}: it is {rec.state.value}")
    if not isinstance(inst, capability):
        what = CAPABILITIES.get(capability.__name__, f"{capability.__name__} capability")
        raise StateError(f"{rec.name}: cannot {doing}: its VM type has no {what}")
    return inst


def snapshot_of(rec: InstanceRecord, now: float, hung_in: float | None,
                pool: str = "") -> InstanceSnapshot:
    """What the pool table shows of ``rec`` at clock time ``now``."""
    live = rec.state in LIVE
    uptime = now - rec.started_at if live and rec.started_at is not None else None
    tail = rec.ring.tail(1)
    running_at = rec.running_at if live else None
    counters = rec.counters.copy()
    if rec.started_at is not None:  # the boot going on counts as up
        counters.up_seconds += now - rec.started_at
    return InstanceSnapshot(
        name=rec.name, index=rec.index, state=rec.state, uptime=uptime,
        lines_per_sec=rec.rate.update(now, rec.ring.next_seq),
        lines=rec.ring.next_seq, last_line=GuestText(tail[0][TEXT] if tail else ""),
        error=GuestText(rec.error), workdir=rec.workdir, title=GuestText(rec.title),
        hung_in=hung_in, held=rec.held, gdb=rec.gdb,
        fault=GuestText(rec.fault), boot_output=bool(rec.boot_output),
        counters=counters, phase=rec.phase,
        since_boot=now - running_at if running_at is not None else None, pool=pool,
        console_bytes=rec.ring.bytes_in, fresh=rec.fresh,
    )


def pool_totals(snapshots: list[InstanceSnapshot], *, started: float | None, now: float,
                crashes: CrashStore) -> PoolTotals:
    """VM-hours, crashes per hour and unique crash titles of one pool's run:
    ``snapshots`` are its instances', ``started`` and ``now`` clock times (None:
    not started yet), ``crashes`` its crash store (titles seen this run count)."""
    up = sum(s.counters.up_seconds for s in snapshots if s.counters)
    count = sum(s.counters.crashes for s in snapshots if s.counters)
    hours = (now - started) / 3600 if started is not None else 0.0
    # The store reloads earlier runs' crashes; those no instance hit yet are not this run's.
    unique = sum(1 for c in crashes.crashes.values() if c.instances)
    return PoolTotals(up / 3600, count, count / hours if hours > 0 else 0.0, unique)
