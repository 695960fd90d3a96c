"""An instance's state from the VM's own events (QMP's STOP, RESUME, RESET...).

The follower writes every event to ``events.jsonl`` and the timeline and moves
the instance's state. One that breaks (the event stream failed, the disk is
full) says so on the instance, since the state shown may then be stale, waits,
reads the state afresh from the VM, and follows again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmtui.backends.monitor import evidence
from vmtui.backends.vm.capabilities import EventSource, Inspectable, Lifecycle
from vmtui.backends.vm.contract import Instance
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.state import LIVE, InstanceState

if TYPE_CHECKING:
    from vmtui.backends.fleet.fleet import Fleet
    from vmtui.backends.fleet.records import InstanceRecord

log = logging.getLogger(__name__)

BACKOFF = (0.5, 10.0)  # seconds before following again: first, and at most


async def follow(fleet: Fleet, rec: InstanceRecord, inst: Instance) -> None:
    """Follow ``inst``'s events for as long as it is ``rec``'s instance."""
    delay, broken = BACKOFF[0], False
    while rec.instance is inst:
        try:
            await _follow_once(fleet, rec, inst, resync=broken)
            return  # the stream ended: the VM is gone
        except (VMError, OSError, ValueError) as exc:
            if rec.instance is not inst or rec.instance_exited():
                return
            broken = True
            rec.fault = f"state tracking broken: {exc}"
            fleet.note(rec, f"{rec.fault}; the state shown may be stale; following again "
                            f"in {delay:g}s")
            log.warning("%s: event follower failed", rec.name, exc_info=exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF[1])


async def _follow_once(fleet: Fleet, rec: InstanceRecord, inst: Instance, *,
                       resync: bool) -> None:
    assert isinstance(inst, EventSource)
    sub = inst.subscribe_events()
    try:
        if resync:
            await _resync(fleet, rec, inst)
            rec.fault = ""
            fleet.note(rec, "state tracking restored")
        path = rec.workdir / "events.jsonl"
        async for event in sub:
            rec.events.append(event)
            _keep(fleet, rec, path, evidence.event_line(event))
            detail = f" {json.dumps(event.data, sort_keys=True)}" if event.data else ""
            rec.ring.append("event", f"{event.name}{detail}", fleet.wallclock())
            if rec.instance is inst:
                on_event(fleet, rec, event.name, event.data)
    finally:
        sub.close()


def _keep(fleet: Fleet, rec: InstanceRecord, path: Path, line: str) -> None:
    """Append ``line`` to the events file; a full disk is said once, not fatal."""
    try:
        with open(path, "a") as f:
            f.write(line)
    except OSError as exc:
        if not rec.events_unwritten:
            fleet.note(rec, f"events.jsonl cannot be written ({exc.strerror or exc}); "
                            "events are still followed")
        rec.events_unwritten += 1
    else:
        rec.events_unwritten = 0


async def _resync(fleet: Fleet, rec: InstanceRecord, inst: object) -> None:
    """Ask the VM what state it is in (events may have been missed)."""
    if not isinstance(inst, Inspectable):
        return
    status = await inst.inspector.status()
    if not status.running and rec.state in (InstanceState.RUNNING, InstanceState.BOOTING):
        on_event(fleet, rec, "STOP")
    elif status.running and rec.state is InstanceState.PAUSED:
        on_event(fleet, rec, "RESUME")


def on_event(fleet: Fleet, rec: InstanceRecord, name: str,
             data: dict[str, Any] | None = None) -> None:
    """Move ``rec``'s state for the VM event ``name``."""
    state = rec.state
    if name == "STOP" and state in (InstanceState.RUNNING, InstanceState.BOOTING):
        rec.resume_to = state
        fleet.set_state(rec, InstanceState.PAUSED)
    elif name == "RESUME" and state is InstanceState.PAUSED:
        fleet.set_state(rec, rec.resume_to)
    elif name == "RESET" and state in (InstanceState.RUNNING, InstanceState.PAUSED):
        fleet.set_state(rec, InstanceState.BOOTING)
        rec.tasks.spawn(_wait_rebooted(fleet, rec), "wait-rebooted")
    elif name == "GUEST_PANICKED":
        fleet.watch.on_panic_event(rec)
    elif name in HOST_EVENTS:
        _on_host_event(fleet, rec, name, data or {})


# The VM's host (libvirt) went away, came back, or came back without the VM.
HOST_EVENTS = ("HOST_LOST", "HOST_BACK", "HOST_GONE")
BACK_TO = {"running": InstanceState.RUNNING, "paused": InstanceState.PAUSED,
           "crashed": InstanceState.CRASHED}


def _on_host_event(fleet: Fleet, rec: InstanceRecord, name: str, data: dict[str, Any]) -> None:
    if name == "HOST_LOST" and rec.state in (*LIVE, InstanceState.LOST):
        rec.host_lost = str(data.get("reason", "the host is unreachable"))
        if rec.state is not InstanceState.LOST:
            rec.resume_to = rec.state
        fleet.set_state(rec, InstanceState.LOST, f"{rec.host_lost}; reconnecting")
        fleet.note(rec, f"host lost: {rec.host_lost}; reconnecting with backoff")
    elif name == "HOST_BACK" and rec.state is InstanceState.LOST and rec.host_lost:
        rec.host_lost = ""
        back = BACK_TO.get(str(data.get("state")), InstanceState.RUNNING)
        if back is InstanceState.RUNNING and rec.resume_to is InstanceState.CRASHED:
            back = InstanceState.CRASHED  # crashed before the host went away
        fleet.set_state(rec, back, rec.title if back is InstanceState.CRASHED else "")
        fleet.note(rec, f"host back: the VM ran on; following it again ({back.value})")
    elif name == "HOST_GONE":
        rec.host_lost = ""
        rec.error = str(data.get("reason", "the VM is gone from its host"))
        fleet.note(rec, rec.error)


async def _wait_rebooted(fleet: Fleet, rec: InstanceRecord) -> None:
    inst = rec.instance
    if not isinstance(inst, Lifecycle):
        return
    try:
        await inst.wait_ready()
    except (VMError, OSError, TimeoutError) as exc:
        if rec.instance is inst and rec.state is InstanceState.BOOTING:
            fleet.set_state(rec, InstanceState.FAILED, f"no SSH after reset: {exc}")
        return
    if rec.instance is inst and rec.state is InstanceState.BOOTING:
        fleet.set_state(rec, InstanceState.RUNNING)
