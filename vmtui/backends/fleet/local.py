"""The in-process :class:`~vmtui.backends.fleet.control.Control`: the pools'
Fleets in this process, seen through plain values only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from vmtui.backends.console import path as consoles
from vmtui.backends.console import search as consolesearch
from vmtui.backends.fleet import runs
from vmtui.backends.fleet.control import Action, ConsoleChunk, PoolInfo
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.fleets import Fleets
from vmtui.backends.fleet.inspection import Table, inspect
from vmtui.backends.fleet.records import InstanceSnapshot, PoolTotals
from vmtui.backends.monitor.crashes import Crash
from vmtui.backends.monitor.evidence import Incident
from vmtui.backends.vm.diagnose import Diagnosis
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.qmp_types import VMSnapshot

T = TypeVar("T")
log = logging.getLogger(__name__)

# Each lifecycle action is one Fleets method: a table, so an unknown name
# cannot reach an attribute that happens to share it.
_ACTIONS: dict[Action, Callable[[Fleets, str], Awaitable[None]]] = {
    Action.POWERDOWN: Fleets.powerdown,
    Action.RESET: Fleets.reset,
    Action.PAUSE: Fleets.pause,
    Action.RESUME: Fleets.resume,
    Action.KILL: Fleets.kill,
    Action.RESTART: Fleets.restart,
    Action.BOOT: Fleets.boot,
}


class _Changes:
    """Counts changes of the crash list and of the incidents without walking
    them all: only incidents not yet finished are looked at again."""

    def __init__(self) -> None:
        self._seen = 0  # incidents counted so far (they are only appended)
        self._open: list[Incident] = []  # counted, still being written
        self._settled = 0

    def count(self, incidents: list[Incident], crashes: int) -> int:
        new = incidents[self._seen:] if len(incidents) >= self._seen else incidents
        self._seen = len(incidents)
        self._open += new
        still = [i for i in self._open if not (i.complete or i.error)]
        self._settled += len(self._open) - len(still)
        self._open = still
        return self._seen + self._settled + crashes


class LocalControl:
    """One Fleet, or several pools' :class:`Fleets`, as a Control.

    Args:
        fleet: the pool (or pools) to drive; not yet started.
    """

    def __init__(self, fleet: Fleet | Fleets, run: str | None = None) -> None:
        self.fleets = fleet if isinstance(fleet, Fleets) else Fleets([fleet])
        self._changes = [_Changes() for _ in self.fleets.fleets]
        self._by_pool = {f.config.pool.name: f for f in self.fleets.fleets}
        self.run = run or runs.new_run_id()
        self._previous = [runs.previous_run(f.config.pool.workdir) for f in self.fleets.fleets]

    # -- queries ----------------------------------------------------------------

    def pools(self) -> list[PoolInfo]:
        return [PoolInfo(p.name, p.count, p.type, p.target, p.os, p.console_lines,
                         p.workload is not None, f.pool.host(), self.run, previous)
                for f, previous in zip(self.fleets.fleets, self._previous, strict=True)
                for p in (f.config.pool,)]

    def snapshot(self) -> list[InstanceSnapshot]:
        return self.fleets.snapshot()

    def pool_snapshot(self, pool: str) -> list[InstanceSnapshot]:
        fleet = self._by_pool.get(pool)
        if fleet is None:
            raise KeyError(pool)
        return fleet.snapshot()

    def totals(self, snapshots: list[InstanceSnapshot]) -> PoolTotals:
        return self.fleets.totals(snapshots)

    def is_up(self, name: str) -> bool:
        return self.fleets.instance(name) is not None

    def console_start(self, name: str) -> int:
        return self.fleets.console(name).first_seq

    def console_since(self, name: str, cursor: int) -> ConsoleChunk:
        ring = self.fleets.console(name)
        lines, missed = ring.since(cursor)
        return ConsoleChunk(lines, missed, ring.next_seq, self.fleets.console_partial(name))

    def crashes(self) -> list[Crash]:
        return self.fleets.crashes()

    def incidents(self, instance: str | None = None) -> list[Incident]:
        return [i for i in reversed(self.fleets.incidents) if instance in (None, i.instance)]

    def changes(self) -> int:
        # Unique titles are few; the sum of their counts grows with each crash.
        return sum(changes.count(fleet.incidents,
                                 sum(c.count for c in fleet.crashes.crashes.values()))
                   for changes, fleet in zip(self._changes, self.fleets.fleets, strict=True))

    def connection(self) -> str:
        return ""  # the pools are in this process

    def set_busy(self, busy: bool) -> None:
        self.fleets.pacer.busy = busy

    # -- files and tables -----------------------------------------------------

    async def boot_output(self, name: str) -> list[str]:
        raw = self.fleets.record(name).boot_output
        return raw.decode("utf-8", "replace").splitlines()

    async def crash_report(self, title: str) -> str:
        return await self._from_crash(title, Crash.newest_report)

    async def crash_log(self, title: str) -> tuple[str, str]:
        return await self._from_crash(title, Crash.newest_log)

    async def _from_crash(self, title: str, read: Callable[[Crash], T]) -> T:
        """``read`` of crash ``title``'s folder, in a thread (VMError if none, or unreadable)."""
        crash = next((c for c in self.fleets.crashes() if c.title == title), None)
        if crash is None:
            raise VMError(f"no crash titled {title!r}")
        try:
            return await asyncio.to_thread(read, crash)
        except OSError as exc:
            raise VMError(f"{crash.folder}: {exc}") from exc

    async def incident_file(self, folder: Path, file: str) -> str:
        incident = next((i for i in self.fleets.incidents if i.folder == folder), None)
        if incident is None:
            raise VMError(f"no incident in {folder}")
        try:
            return await asyncio.to_thread(incident.read, file)
        except OSError as exc:
            raise VMError(f"cannot read {file}: {exc}") from exc

    async def inspect(self, name: str, tab: str) -> Table:
        return await inspect(self.fleets.record(name), tab)

    async def save_console(self, name: str, lines: list[str]) -> Path:
        return consoles.save_lines(self.fleets.record(name).workdir, name, lines)

    # -- driving the VMs --------------------------------------------------------

    async def search(self, query: consolesearch.SearchQuery) -> consolesearch.SearchResult:
        logs = [(snap.name, log) for snap in self.snapshot()
                for log in consolesearch.instance_logs(snap.workdir)]
        return await consolesearch.search(logs, query)

    async def act(self, action: Action, name: str) -> None:
        await _ACTIONS[Action(action)](self.fleets, name)

    async def diagnose(self, name: str, action: str) -> Diagnosis:
        return await self.fleets.diagnose(name, action)

    async def hold(self, name: str) -> str:
        return await self.fleets.hold(name)

    async def release(self, name: str) -> None:
        await self.fleets.release(name)

    async def vm_snapshots(self, name: str) -> list[VMSnapshot]:
        return await self.fleets.vm_snapshots(name).snapshots()

    async def take_snapshot(self, name: str, tag: str) -> None:
        await self.fleets.vm_snapshots(name).take_snapshot(tag)

    async def restore_snapshot(self, name: str, tag: str) -> None:
        await self.fleets.vm_snapshots(name).restore_snapshot(tag)

    async def type_into(self, name: str, data: bytes) -> None:
        await self.fleets.write_console(name, data)

    # -- lifetime -------------------------------------------------------------------

    async def start(self) -> None:
        for fleet in self.fleets.fleets:  # the next run on the workdir will say it follows this
            try:
                runs.record_run(fleet.config.pool.workdir, self.run)
            except OSError as exc:
                log.warning("%s: cannot record the run: %s", fleet.config.pool.name, exc)
        await self.fleets.start()

    async def close(self) -> None:
        await self.fleets.close()
