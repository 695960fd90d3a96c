"""The farm loop: every VM busy with the workload, round after round.

syzkaller's manager keeps each VM of its pool busy: boot, copy the fuzzer in,
run it with its output merged into the console, watch for a crash, a hang or a
lost VM, save the evidence, restart the VM, again. Here, per instance:

    boot ─► copy ─► run (a round) ─┬─ the command ends: ``always`` runs it again
       ▲                           └─ crash, hang, lost VM: the incident is
       └── restart (after backoff) ◄──  written, the crash filed, then restart
                                        (``on-crash``/``always``) or leave it

A held instance starts no new round and is never restarted until released.
An instance the operator stopped waits until the operator starts it again.
More than ``max_restarts`` restarts within ``restart_window`` park it as failed.

The farm is a client of the fleet, not an organ of it: it reads and waits on
the fleet's :class:`Ledger` (records, clock, notes, states, guest sessions) and
drives the VMs through a :class:`FleetDriver` (boot, restart, stop), the way
syzkaller's manager is handed its runner.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from typing import Any, Protocol

from vmtui.backends.config.pool import WorkloadConfig
from vmtui.backends.fleet import recycle
from vmtui.backends.fleet.ledger import Ledger
from vmtui.backends.fleet.records import InstanceRecord
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.state import InstanceState

log = logging.getLogger(__name__)

# States that end a round (the VM is no longer running the workload).
ROUND_OVER = (InstanceState.CRASHED, InstanceState.LOST, InstanceState.STOPPED,
              InstanceState.FAILED)
INCIDENT_WAIT = 60.0  # seconds a restart waits for the crash's evidence at most


class FleetDriver(Protocol):
    """What the farm asks of the fleet beyond its ledger: a new VM process for an
    instance, or none (the Fleet satisfies it)."""

    async def boot(self, name: str) -> None:
        """Boot ``name``; a failed boot shows in its state, not raised."""

    async def restart(self, name: str) -> None:
        """Kill ``name``'s VM and boot it again."""

    async def stop(self, name: str) -> None:
        """Stop ``name`` (kill its VM) and keep its logs."""


class Farm:
    """The workload loop of every instance of a fleet.

    Args:
        ledger: the fleet's records, clock, notes and states.
        driver: boots, restarts and stops the VMs (the fleet).
        workload: what each round copies in and runs.
    """

    def __init__(self, ledger: Ledger, driver: FleetDriver, workload: WorkloadConfig) -> None:
        self.ledger = ledger
        self.driver = driver
        self.workload = workload
        self._restarts: dict[str, collections.deque[float]] = {
            name: collections.deque() for name in ledger.records}
        self._copied: dict[str, int] = {}  # instance → the boot its files were copied for
        self._parked: set[str] = set()
        # recycle: snapshot — the VM process whose restart snapshot was taken
        # (False: it could not be taken; the VM is reset or rebooted instead).
        self._snapshots: dict[str, Any] = {}
        self.closing = False  # the fleet is closing: no loop starts anything new

    async def start(self) -> None:
        """Start every loop; return once each instance's first boot has settled."""
        for rec in self.ledger.records.values():
            rec.tasks.spawn(self._loop(rec), "farm")
        await asyncio.gather(*(self.ledger.wait_state(
            name, InstanceState.RUNNING, InstanceState.FAILED, InstanceState.STOPPED,
            InstanceState.CRASHED, InstanceState.LOST) for name in self.ledger.records))

    # -- the loop ----------------------------------------------------------------

    async def _loop(self, rec: InstanceRecord) -> None:
        while not self.closing:
            await self._wait_unheld(rec)
            if rec.name in self._parked or (rec.state is InstanceState.STOPPED
                                            and rec.counters.boots):
                # Parked, or the operator stopped it: wait until it is started again.
                rec.phase = "parked" if rec.name in self._parked else "stopped"
                await self._wait_leave(rec, rec.state)
                self._parked.discard(rec.name)
                self._restarts[rec.name].clear()
            if rec.state is InstanceState.LOST and rec.host_lost:
                # Its host is unreachable, the VM may run on: wait for it, no restart.
                rec.phase = "waiting for its host"
                while rec.state is InstanceState.LOST and rec.host_lost and not self.closing:
                    await asyncio.sleep(0.5)
                continue
            if rec.state is InstanceState.BOOTING:
                await self.ledger.wait_state(rec.name, *ROUND_OVER, InstanceState.RUNNING)
            if rec.state is not InstanceState.RUNNING:
                try:
                    await self._restart(rec)
                except VMError as exc:  # held meanwhile, or the VM went away
                    self.ledger.note(rec, f"restart: {exc}")
                continue  # running now, failed (restarted next turn) or parked
            try:
                outcome = await self._round(rec)
            except Exception as exc:  # a bug must not end this instance's loop for good
                log.exception("%s: round failed", rec.name)
                self.ledger.note(rec, f"round failed unexpectedly: {exc!r}; restarting the VM")
                outcome = "broken"
            if outcome == "broken" and rec.state is InstanceState.RUNNING:
                await self._restart(rec, kill=True)
                continue
            if outcome == "exited" and self.workload.restart != "always":
                rec.phase = "idle (the command ended)"
                await self.ledger.wait_state(rec.name, *ROUND_OVER)
            if rec.state in (InstanceState.CRASHED, InstanceState.LOST):
                await self._evidence(rec)
                if self.workload.restart == "never":
                    rec.phase = "left as it is (restart: never)"
                    await self._wait_leave(rec, rec.state)

    async def _wait_leave(self, rec: InstanceRecord, state: InstanceState) -> None:
        await self.ledger.wait_state(rec.name, *(s for s in InstanceState if s is not state))

    async def _wait_unheld(self, rec: InstanceRecord) -> None:
        while rec.held:
            rec.phase = "held"
            await asyncio.sleep(0.2)

    async def _evidence(self, rec: InstanceRecord) -> None:
        """Wait until the crash's incident is written (registers, console after)."""
        task = rec.incident
        if task is not None and not task.done():
            rec.phase = "collecting evidence"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), INCIDENT_WAIT)

    async def _restart(self, rec: InstanceRecord, kill: bool = False) -> bool:
        """Boot ``rec`` (again; ``kill`` a running VM first); False when it was
        parked instead."""
        first = rec.counters.boots == 0
        if not first:
            times = self._restarts[rec.name]
            now = self.ledger.clock()
            while times and now - times[0] > self.workload.restart_window:
                times.popleft()
            if len(times) >= self.workload.max_restarts:
                reason = (f"parked: {len(times)} restarts within "
                          f"{self.workload.restart_window:g}s (max_restarts "
                          f"{self.workload.max_restarts})")
                self.ledger.note(rec, reason)
                self._parked.add(rec.name)
                await self.driver.stop(rec.name)
                self.ledger.set_state(rec, InstanceState.FAILED, reason)
                return False
            times.append(now)
            if self.workload.backoff:
                rec.phase = f"restarting in {self.workload.backoff:g}s"
                await asyncio.sleep(self.workload.backoff)
            await self._wait_unheld(rec)
            rec.counters.restarts += 1
        rec.phase = "booting"
        how = self.workload.recycle
        if (not first and not kill and how == "snapshot"
                and recycle.can_restore(rec, self._snapshots.get(rec.name))):
            if await recycle.restore(self.ledger, rec):
                self._copied[rec.name] = rec.counters.boots  # the snapshot holds the copies
        elif (not first and not kill and how in ("reset", "snapshot")
              and recycle.can_reset(rec)):
            await recycle.reset(self.ledger, rec)
        elif rec.state in (InstanceState.OFFLINE, InstanceState.FAILED,
                           InstanceState.STOPPED):
            await self.driver.boot(rec.name)
        else:
            await self.driver.restart(rec.name)
        return True

    async def _round(self, rec: InstanceRecord) -> str:
        """Copy the files in (once per boot), run the command; how the round ended:
        "exited" (the command ended), "over" (the VM left running) or "broken"
        (SSH failed while the VM seems to run: it is restarted)."""
        ledger = self.ledger
        round_ = rec.counters.rounds + 1
        started = ledger.clock()
        try:
            guest = ledger.guest(rec.name)
            if self._copied.get(rec.name) != rec.counters.boots:
                rec.phase = "copying"
                for item in self.workload.copy:
                    await guest.copy_in(item.src, item.target)
                self._copied[rec.name] = rec.counters.boots
            taken = self._snapshots.get(rec.name)
            if self.workload.recycle == "snapshot" and taken is not False \
                    and taken is not rec.instance:  # once per VM process
                rec.phase = "taking the restart snapshot"
                self._snapshots[rec.name] = rec.instance if await recycle.take(ledger, rec) \
                    else False
            rec.phase = f"round {round_}"
            command = self.workload.command(rec.name, rec.index, round_)
            run = asyncio.ensure_future(guest.run(command, timeout=None, keep=False))
            over = asyncio.ensure_future(ledger.wait_state(rec.name, *ROUND_OVER))
            try:
                await asyncio.wait({run, over}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                over.cancel()
                ending: list[asyncio.Future[Any]] = [over]
                if not run.done():
                    run.cancel()
                if run.done() or rec.state is InstanceState.RUNNING:
                    ending.append(run)
                else:
                    # The VM crashed: killing the command in it would wait for a
                    # guest that cannot answer. The command ends when the VM does.
                    run.add_done_callback(_forget)
                await asyncio.gather(*ending, return_exceptions=True)
            if rec.state is InstanceState.RUNNING and run.done() and not run.cancelled():
                result = run.result()  # raises what the run raised
                ledger.note(rec, f"round {round_}: the command {result.describe()}")
                return "exited"
            return "over"
        except VMError as exc:
            # SSH broke (the guest may be crashing): give the console a moment
            # to say so, else restart the VM all the same.
            if rec.state is InstanceState.RUNNING:
                with contextlib.suppress(TimeoutError):
                    await ledger.wait_state(rec.name, *ROUND_OVER, timeout=5)
            if rec.state is InstanceState.RUNNING:
                ledger.note(rec, f"round {round_}: {exc}; restarting the VM")
                return "broken"
            return "over"
        finally:
            rec.counters.rounds += 1
            rec.counters.workload_seconds += ledger.clock() - started


def _forget(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a command cut by a crash ends how it ends

