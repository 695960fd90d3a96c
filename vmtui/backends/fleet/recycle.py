"""Bringing a crashed VM back without a new process: a reset in place, or a
restore of the snapshot the farm took once the VM first ran.

A restore puts the guest back to the moment after its boot (and the workload's
copies): its clock is set to now over a new SSH session (the old one belongs to
the past), and the console goes on in the same log after a marker line.

Each step is handed the fleet's :class:`Ledger` (state, notes, clock), never the Fleet.
"""

from __future__ import annotations

import time
from typing import Any

from vmtui.backends.fleet.ledger import Ledger
from vmtui.backends.fleet.records import InstanceRecord, require
from vmtui.backends.inert import GuestText
from vmtui.backends.vm.capabilities import GuestAccess, Inspectable, Lifecycle, Snapshots
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.state import LIVE, InstanceState

TAG = "vmtui-restart"


def can_reset(rec: InstanceRecord) -> bool:
    return isinstance(rec.instance, Lifecycle) and not rec.instance_exited()


def can_restore(rec: InstanceRecord, taken: Any) -> bool:
    """Whether ``rec``'s live VM process is the one whose snapshot was ``taken``."""
    return (taken is not None and taken is rec.instance and isinstance(taken, Snapshots)
            and isinstance(taken, Lifecycle) and not rec.instance_exited())


async def take(ledger: Ledger, rec: InstanceRecord) -> bool:
    """Snapshot ``rec``'s running VM for later restarts; False (and a note) if it
    cannot be (no writable qcow2 disk, another VM type)."""
    inst = rec.instance
    if not isinstance(inst, Snapshots):
        ledger.note(rec, "recycle: snapshot: this VM type has no snapshots; restarts reboot it")
        return False
    began = time.monotonic()
    try:
        await inst.take_snapshot(TAG)
    except VMError as exc:
        ledger.note(rec, f"recycle: snapshot: cannot take the restart snapshot ({exc}); "
                         "restarts reset or reboot it instead")
        return False
    ledger.note(rec, f"restart snapshot {TAG} taken in {time.monotonic() - began:.2f}s")
    return True


async def restore(ledger: Ledger, rec: InstanceRecord) -> bool:
    """Back to the restart snapshot; returns once the guest runs again with its
    clock set (True), or failed (False, the state says why)."""
    inst: Any = require(rec, LIVE, "restore", Snapshots)  # and Lifecycle: can_restore
    ledger.set_state(rec, InstanceState.BOOTING)
    rec.title = GuestText()
    rec.last_output = ledger.clock()
    ledger.note(rec, f"restored the snapshot {TAG}: the lines below come from the guest "
                     "as it was right after its first boot")
    try:
        await inst.restore_snapshot(TAG)
        await _unpause(inst)
        if isinstance(inst, GuestAccess) and inst.guest is not None:
            # Its SSH server was up when the snapshot was taken: the first new
            # session is the readiness check, and sets the clock (stopped at the
            # snapshot) to now.
            await inst.guest.run(f"date -s @{round(time.time())} >/dev/null", timeout=30,
                                 keep=False)
        else:
            await inst.wait_ready()
    except (VMError, OSError, TimeoutError) as exc:
        if rec.state is InstanceState.BOOTING:
            ledger.set_state(rec, InstanceState.FAILED, f"restoring the snapshot failed: {exc}")
        return False
    if rec.state is InstanceState.BOOTING:
        ledger.set_state(rec, InstanceState.RUNNING)
    return True


async def _unpause(inst: Lifecycle) -> None:
    """A panicked guest was paused for the evidence: let it run."""
    shown: Any = inst
    if isinstance(shown, Inspectable) and not (await shown.inspector.status()).running:
        await inst.resume()


async def reset(ledger: Ledger, rec: InstanceRecord) -> None:
    """Reboot a live (crashed, maybe paused) VM in its own process; returns
    once it runs again (or failed). No new process: faster where it works."""
    inst: Any = require(rec, LIVE, "reset", Lifecycle)
    ledger.set_state(rec, InstanceState.BOOTING)
    rec.title = GuestText()
    rec.last_output = ledger.clock()
    ledger.note(rec, "reset in place")
    try:
        await inst.reset()
        await _unpause(inst)
        await inst.wait_ready()
    except (VMError, OSError, TimeoutError) as exc:
        if rec.state is InstanceState.BOOTING:
            ledger.set_state(rec, InstanceState.FAILED, f"no SSH after reset: {exc}")
        return
    if rec.state is InstanceState.BOOTING:
        ledger.set_state(rec, InstanceState.RUNNING)
