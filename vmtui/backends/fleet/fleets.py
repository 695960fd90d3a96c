"""Several pools in one vmtui: a local QEMU pool beside libvirt pools on other
hosts, say. :class:`Fleets` answers the Fleet's questions for all of them (every
instance name is unique: it starts with its pool's name) and sends each action
to the pool the instance belongs to. Each pool keeps its own workdir, crash
store and connection: a pool whose host is lost touches no other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from vmtui.backends.console.ring import ConsoleRing
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.records import (
    InstanceRecord,
    InstanceSnapshot,
    PoolTotals,
    pool_totals,
)
from vmtui.backends.monitor.crashes import Crash
from vmtui.backends.monitor.evidence import Incident
from vmtui.backends.vm.capabilities import GuestShell, Snapshots
from vmtui.backends.vm.diagnose import Diagnosis
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.merger import Pacer
from vmtui.backends.vm.state import InstanceState


class Fleets:
    """Pools shown and driven together.

    Raises:
        VMError: two pools share a name (their instances' names would clash).
    """

    def __init__(self, fleets: Sequence[Fleet]) -> None:
        if not fleets:
            raise VMError("no pool to show")
        seen: dict[str, Fleet] = {}
        for fleet in fleets:
            name = fleet.config.pool.name
            if name in seen:
                raise VMError(f"name: pool {name!r} is named so in {seen[name].config.source} "
                              f"and in {fleet.config.source}: pools shown together need "
                              "names of their own")
            seen[name] = fleet
        self.fleets = list(fleets)
        self.pacer = Pacer()  # one event loop: one back-off for every console source
        self._owner: dict[str, Fleet] = {}
        self.records: dict[str, InstanceRecord] = {}
        for fleet in self.fleets:
            fleet.pacer = self.pacer
            for name, rec in fleet.records.items():
                self._owner[name] = fleet
                self.records[name] = rec

    def of(self, name: str) -> Fleet:
        """The pool instance ``name`` belongs to (KeyError if none)."""
        return self._owner[name]

    # -- the pools together ------------------------------------------------------

    async def start(self) -> None:
        await asyncio.gather(*(fleet.start() for fleet in self.fleets))

    async def close(self) -> None:
        await asyncio.gather(*(fleet.close() for fleet in self.fleets))

    def snapshot(self) -> list[InstanceSnapshot]:
        return [snap for fleet in self.fleets for snap in fleet.snapshot()]

    @property
    def incidents(self) -> list[Incident]:
        """Every pool's incidents, oldest first."""
        return sorted((i for fleet in self.fleets for i in fleet.incidents),
                      key=lambda i: i.time)

    def crashes(self) -> list[Crash]:
        """Unique crash titles of every pool, a title seen in several pools once
        (counts summed, the newest report's folder), the most recent first."""
        merged: dict[str, Crash] = {}
        for fleet in self.fleets:
            for crash in fleet.crashes.all():
                have = merged.get(crash.title)
                if have is None:
                    merged[crash.title] = replace(crash, instances=list(crash.instances))
                    continue
                newer = crash if crash.last > have.last else have
                merged[crash.title] = replace(
                    newer, count=have.count + crash.count, first=min(have.first, crash.first),
                    last=max(have.last, crash.last), instances=have.instances + crash.instances)
        return sorted(merged.values(), key=lambda c: c.last, reverse=True)

    def totals(self, snapshots: list[InstanceSnapshot]) -> PoolTotals:
        """The header's figures, summed over the pools."""
        parts = [pool_totals([s for s in snapshots if s.pool == fleet.config.pool.name],
                             started=fleet.started_at, now=fleet.clock(), crashes=fleet.crashes)
                 for fleet in self.fleets]
        return PoolTotals(sum(p.vm_hours for p in parts), sum(p.crashes for p in parts),
                          sum(p.crashes_per_hour for p in parts), sum(p.unique for p in parts))

    # -- one instance, sent to its pool --------------------------------------------

    def record(self, name: str) -> InstanceRecord:
        return self.of(name).record(name)

    def console(self, name: str) -> ConsoleRing:
        return self.of(name).console(name)

    def console_partial(self, name: str) -> str:
        return self.of(name).console_partial(name)

    def instance(self, name: str) -> object | None:
        return self.of(name).instance(name)

    def guest(self, name: str) -> GuestShell:
        return self.of(name).guest(name)

    def vm_snapshots(self, name: str) -> Snapshots:
        return self.of(name).vm_snapshots(name)

    async def write_console(self, name: str, data: bytes) -> None:
        await self.of(name).write_console(name, data)

    async def wait_state(self, name: str, *states: InstanceState,
                         timeout: float | None = None) -> InstanceState:
        return await self.of(name).wait_state(name, *states, timeout=timeout)

    async def diagnose(self, name: str, action: str) -> Diagnosis:
        return await self.of(name).diagnose(name, action)

    async def hold(self, name: str) -> str:
        return await self.of(name).hold(name)

    async def release(self, name: str) -> None:
        await self.of(name).release(name)

    async def boot(self, name: str) -> None:
        await self.of(name).boot(name)

    async def stop(self, name: str) -> None:
        await self.of(name).stop(name)

    async def kill(self, name: str) -> None:
        await self.of(name).kill(name)

    async def restart(self, name: str) -> None:
        await self.of(name).restart(name)

    async def powerdown(self, name: str) -> None:
        await self.of(name).powerdown(name)

    async def reset(self, name: str) -> None:
        await self.of(name).reset(name)

    async def pause(self, name: str) -> None:
        await self.of(name).pause(name)

    async def resume(self, name: str) -> None:
        await self.of(name).resume(name)
