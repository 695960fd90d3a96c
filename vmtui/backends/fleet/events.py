"""An instance's state from the VM's own events (QMP's STOP, RESUME, RESET...).

The follower writes every event to ``events.jsonl`` and the timeline and moves
the instance's state. One that breaks (the event stream failed, the disk is
full) says so on the instance, since the state shown may then be stale, waits,
reads the state afresh from the VM, and follows again.

It is handed the fleet's :class:`Ledger` (state changes, notes, clocks) and,
for a guest's panic, the watch's ``on_panic``: never the Fleet itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vmtui.backends.fleet.ledger import Ledger
from vmtui.backends.fleet.records import InstanceRecord
from vmtui.backends.monitor import evidence
from vmtui.backends.vm.capabilities import EventSource, Inspectable, Lifecycle
from vmtui.backends.vm.contract import Instance
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.state import LIVE, InstanceState

log = logging.getLogger(__name__)

BACKOFF = (0.5, 10.0)  # seconds before following again: first, and at most

# What a guest's reported panic (GUEST_PANICKED) is handed to: the watch files it.
OnPanic = Callable[[InstanceRecord], None]


async def follow(ledger: Ledger, rec: InstanceRecord, inst: Instance,
                 on_panic: OnPanic) -> None:
    """Follow ``inst``'s events for as long as it is ``rec``'s instance; a
    guest's panic goes to ``on_panic``."""
    delay, broken = BACKOFF[0], False
    while rec.instance is inst:
        try:
            await _follow_once(ledger, rec, inst, on_panic, resync=broken)
            return  # the stream ended: the VM is gone
        except (VMError, OSError, ValueError) as exc:
            if rec.instance is not inst or rec.instance_exited():
                return
            broken = True
            rec.fault = f"state tracking broken: {exc}"
            ledger.note(rec, f"{rec.fault}; the state shown may be stale; following again "
                             f"in {delay:g}s")
            log.warning("%s: event follower failed", rec.name, exc_info=exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF[1])


async def _follow_once(ledger: Ledger, rec: InstanceRecord, inst: Instance,
                       on_panic: OnPanic, *, resync: bool) -> None:
    assert isinstance(inst, EventSource)
    sub = inst.subscribe_events()
    try:
        if resync:
            await _resync(ledger, rec, inst, on_panic)
            rec.fault = ""
            ledger.note(rec, "state tracking restored")
        path = rec.workdir / "events.jsonl"
        async for event in sub:
            rec.events.append(event)
            _keep(ledger, rec, path, evidence.event_line(event))
            detail = f" {json.dumps(event.data, sort_keys=True)}" if event.data else ""
            rec.ring.append("event", f"{event.name}{detail}", ledger.wallclock())
            if rec.instance is inst:
                on_event(ledger, rec, event.name, event.data, on_panic)
    finally:
        sub.close()


def _keep(ledger: Ledger, rec: InstanceRecord, path: Path, line: str) -> None:
    """Append ``line`` to the events file; a full disk is said once, not fatal."""
    try:
        with open(path, "a") as f:
            f.write(line)
    except OSError as exc:
        if not rec.events_unwritten:
            ledger.note(rec, f"events.jsonl cannot be written ({exc.strerror or exc}); "
                             "events are still followed")
        rec.events_unwritten += 1
    else:
        rec.events_unwritten = 0


async def _resync(ledger: Ledger, rec: InstanceRecord, inst: object,
                  on_panic: OnPanic) -> None:
    """Ask the VM what state it is in (events may have been missed)."""
    if not isinstance(inst, Inspectable):
        return
    status = await inst.inspector.status()
    if not status.running and rec.state in (InstanceState.RUNNING, InstanceState.BOOTING):
        on_event(ledger, rec, "STOP", None, on_panic)
    elif status.running and rec.state is InstanceState.PAUSED:
        on_event(ledger, rec, "RESUME", None, on_panic)


def on_event(ledger: Ledger, rec: InstanceRecord, name: str, data: dict[str, Any] | None,
             on_panic: OnPanic) -> None:
    """Move ``rec``'s state for the VM event ``name``; a panic goes to ``on_panic``."""
    state = rec.state
    if name == "STOP" and state in (InstanceState.RUNNING, InstanceState.BOOTING):
        rec.resume_to = state
        ledger.set_state(rec, InstanceState.PAUSED)
    elif name == "RESUME" and state is InstanceState.PAUSED:
        ledger.set_state(rec, rec.resume_to)
    elif name == "RESET" and state in (InstanceState.RUNNING, InstanceState.PAUSED):
        ledger.set_state(rec, InstanceState.BOOTING)
        rec.tasks.spawn(_wait_rebooted(ledger, rec), "wait-rebooted")
    elif name == "GUEST_PANICKED":
        on_panic(rec)
    elif name in HOST_EVENTS:
        _on_host_event(ledger, rec, name, data or {})


# The VM's host (libvirt) went away, came back, or came back without the VM.
HOST_EVENTS = ("HOST_LOST", "HOST_BACK", "HOST_GONE")
BACK_TO = {"running": InstanceState.RUNNING, "paused": InstanceState.PAUSED,
           "crashed": InstanceState.CRASHED}


def _on_host_event(ledger: Ledger, rec: InstanceRecord, name: str, data: dict[str, Any]) -> None:
    if name == "HOST_LOST" and rec.state in (*LIVE, InstanceState.LOST):
        rec.host_lost = str(data.get("reason", "the host is unreachable"))
        if rec.state is not InstanceState.LOST:
            rec.resume_to = rec.state
        ledger.set_state(rec, InstanceState.LOST, f"{rec.host_lost}; reconnecting")
        ledger.note(rec, f"host lost: {rec.host_lost}; reconnecting with backoff")
    elif name == "HOST_BACK" and rec.state is InstanceState.LOST and rec.host_lost:
        rec.host_lost = ""
        back = BACK_TO.get(str(data.get("state")), InstanceState.RUNNING)
        if back is InstanceState.RUNNING and rec.resume_to is InstanceState.CRASHED:
            back = InstanceState.CRASHED  # crashed before the host went away
        ledger.set_state(rec, back, rec.title if back is InstanceState.CRASHED else "")
        ledger.note(rec, f"host back: the VM ran on; following it again ({back.value})")
    elif name == "HOST_GONE":
        rec.host_lost = ""
        rec.error = str(data.get("reason", "the VM is gone from its host"))
        ledger.note(rec, rec.error)


async def _wait_rebooted(ledger: Ledger, rec: InstanceRecord) -> None:
    inst = rec.instance
    if not isinstance(inst, Lifecycle):
        return
    try:
        await inst.wait_ready()
    except (VMError, OSError, TimeoutError) as exc:
        if rec.instance is inst and rec.state is InstanceState.BOOTING:
            ledger.set_state(rec, InstanceState.FAILED, f"no SSH after reset: {exc}")
        return
    if rec.instance is inst and rec.state is InstanceState.BOOTING:
        ledger.set_state(rec, InstanceState.RUNNING)
