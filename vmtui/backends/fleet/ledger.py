"""The fleet's ledger: its records, its clocks, and the few writes every organ shares.

The organs of a fleet (the watch, the event follower, recycling, the incident
writer, the farm) each move an instance's state, write a note in its timeline,
read the clock or wait for a state. They take this ledger for that, never the
:class:`~vmtui.backends.fleet.fleet.Fleet`: what they may touch is then what
is written here, and the Fleet that builds them stays above them.

``set_state`` is the only writer of ``rec.state``: the state machine
(``TRANSITIONS``) and the counters that follow a state change live in one place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from vmtui.backends.console import path as consoles
from vmtui.backends.console import sources as consolesrc
from vmtui.backends.fleet.records import InstanceRecord, require
from vmtui.backends.vm.capabilities import ConsoleWriter, GuestAccess, GuestShell
from vmtui.backends.vm.errors import StateError
from vmtui.backends.vm.state import LIVE, TRANSITIONS, InstanceState

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class Ledger:
    """The records of one pool's instances, by name, and the clocks they are kept by.

    Args:
        records: the instance slots, by name (the fleet makes them once).
        clock: monotonic seconds (state changes, silence, uptimes).
        wallclock: epoch seconds stamped on console lines.
    """

    def __init__(self, records: dict[str, InstanceRecord], *, clock: Clock = time.monotonic,
                 wallclock: Clock = time.time) -> None:
        self.records = records
        self.clock = clock
        self.wallclock = wallclock

    def record(self, name: str) -> InstanceRecord:
        """The record of instance ``name``; KeyError if there is none."""
        return self.records[name]

    # -- state -----------------------------------------------------------------

    def set_state(self, rec: InstanceRecord, state: InstanceState, error: str = "") -> None:
        """Move ``rec`` to ``state`` (StateError for a move the machine forbids)."""
        if state is rec.state:
            return
        if state not in TRANSITIONS[rec.state]:
            raise StateError(f"{rec.name}: cannot go from {rec.state.value} "
                             f"to {state.value}")
        log.debug("%s: %s -> %s", rec.name, rec.state.value, state.value)
        now = self.clock()
        if state is InstanceState.BOOTING:
            rec.counters.boots += 1
            rec.boot_began = now
            rec.boot_seq = rec.ring.next_seq
        elif state is InstanceState.RUNNING and rec.state is InstanceState.BOOTING:
            rec.counters.booting_seconds += now - rec.boot_began
            rec.running_at = now
        elif state is InstanceState.RUNNING and rec.state is InstanceState.PAUSED:
            rec.last_output = now  # the silence clock starts again on resume
        rec.state = state
        rec.error = error
        # Wake every waiter, then give later waiters a fresh event to wait on.
        rec.state_changed.set()
        rec.state_changed = asyncio.Event()

    async def wait_state(self, name: str, *states: InstanceState,
                         timeout: float | None = None) -> InstanceState:
        """Wait until instance ``name`` is in one of ``states``."""
        rec = self.records[name]

        # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancellation
        # that arrives as the state changes, and a cancelled caller runs on.
        async with asyncio.timeout(timeout):
            while rec.state not in states:
                await rec.state_changed.wait()
            return rec.state

    # -- the timeline ----------------------------------------------------------

    def note(self, rec: InstanceRecord, text: str) -> None:
        """A line from vmtui itself in the timeline and the log on disk."""
        consoles.note(rec.console, rec.ring, text, self.wallclock())

    def task_failed(self, rec: InstanceRecord, task: str, exc: BaseException) -> None:
        """A background task of ``rec`` failed: a fault on the record, and a note."""
        rec.fault = f"{task} failed: {exc!r}"
        self.note(rec, f"background task {rec.fault}")

    # -- the live instance -----------------------------------------------------

    def live(self, name: str, doing: str, capability: type[Any]) -> Any:
        """The live instance of ``name`` that can do ``doing`` (StateError if it
        is not live or its VM type lacks ``capability``)."""
        return require(self.records[name], LIVE, doing, capability)

    def guest(self, name: str) -> GuestShell:
        """The SSH session into instance ``name`` (run, copy_in, forward)."""
        inst: GuestAccess = self.live(name, "run commands in the guest", GuestAccess)
        if inst.guest is None:
            raise StateError(f"{name}: no SSH session (its config has no network or key)")
        return inst.guest

    async def write_console(self, name: str, data: bytes) -> None:
        """Type ``data`` into the console of ``name`` (attach mode): the VM's own,
        else an open console source that takes input (a serial device)."""
        rec = self.records[name]
        if isinstance(rec.instance, ConsoleWriter) or not rec.console_inputs():
            await self.live(name, "type into the console", ConsoleWriter).write_console(data)
        else:
            await consolesrc.console_input(rec.console_inputs(), name).write(data)
