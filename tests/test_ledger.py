"""The fleet's ledger: the one writer of an instance's state, shared by the Fleet
and every organ it hands it to; and the pool totals summed from snapshots."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.helpers import scripted_config
from vmtui.backends.fleet import events
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.ledger import Ledger
from vmtui.backends.fleet.records import (
    Counters,
    InstanceRecord,
    InstanceSnapshot,
    pool_totals,
)
from vmtui.backends.monitor.crashes import CrashStore
from vmtui.backends.vm.errors import StateError
from vmtui.backends.vm.state import InstanceState
from vmtui.backends.vm.tasks import Background


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ledger_of(tmp_path: Path, clock: Clock) -> Ledger:
    rec = InstanceRecord("vm-0", 0, tmp_path / "vm-0", 100, Background("vm-0"))
    return Ledger({"vm-0": rec}, clock=clock, wallclock=lambda: 1.0e9)


async def test_set_state_keeps_the_machine_and_its_clocks(tmp_path: Path) -> None:
    clock = Clock()
    ledger = ledger_of(tmp_path, clock)
    rec = ledger.record("vm-0")
    with pytest.raises(StateError, match="cannot go from offline to running"):
        ledger.set_state(rec, InstanceState.RUNNING)
    assert rec.state is InstanceState.OFFLINE
    ledger.set_state(rec, InstanceState.BOOTING)
    clock.now += 7
    ledger.set_state(rec, InstanceState.RUNNING)
    assert (rec.counters.boots, rec.counters.booting_seconds, rec.running_at) == (1, 7, 107)
    ledger.set_state(rec, InstanceState.RUNNING, "ignored")  # the same state: no change
    assert rec.error == ""


async def test_wait_state_wakes_on_the_ledgers_change(tmp_path: Path) -> None:
    ledger = ledger_of(tmp_path, Clock())
    rec = ledger.record("vm-0")
    waiting = asyncio.ensure_future(ledger.wait_state("vm-0", InstanceState.FAILED))
    await asyncio.sleep(0)
    ledger.set_state(rec, InstanceState.BOOTING)
    await asyncio.sleep(0)
    assert not waiting.done()  # booting is not what it waits for
    ledger.set_state(rec, InstanceState.FAILED, "no disk")
    assert await asyncio.wait_for(waiting, 1) is InstanceState.FAILED
    with pytest.raises(TimeoutError):
        await ledger.wait_state("vm-0", InstanceState.RUNNING, timeout=0.01)


async def test_a_failed_task_is_a_fault_and_a_note(tmp_path: Path) -> None:
    ledger = ledger_of(tmp_path, Clock())
    rec = ledger.record("vm-0")
    ledger.task_failed(rec, "console", RuntimeError("boom"))
    assert rec.fault == "console failed: RuntimeError('boom')"
    assert rec.ring.tail(1)[0][1:3] == ("vmtui", "background task console failed: "
                                                 "RuntimeError('boom')")


async def test_the_guest_of_an_instance_not_running_is_refused(tmp_path: Path) -> None:
    ledger = ledger_of(tmp_path, Clock())
    with pytest.raises(StateError, match="vm-0"):
        ledger.guest("vm-0")
    with pytest.raises(StateError, match="vm-0"):
        await ledger.write_console("vm-0", b"x")


async def test_the_fleet_and_its_organs_share_one_ledger(tmp_path: Path) -> None:
    clock = Clock()
    fleet = Fleet(scripted_config(tmp_path, count=1, workload={"backoff": 0, "run": "echo x"}),
                  clock=clock)
    try:
        ledger = fleet.ledger
        assert fleet.records is ledger.records and fleet.clock is clock
        assert fleet.watch.ledger is ledger and fleet.watch.writer.ledger is ledger
        assert fleet.watch.writer.crashes is fleet.crashes
        assert fleet.farm is not None
        assert fleet.farm.ledger is ledger and fleet.farm.driver is fleet
        # The facade's delegates write the same records the organs read.
        rec = fleet.record("snap-0")
        fleet.set_state(rec, InstanceState.BOOTING)
        assert ledger.record("snap-0").state is InstanceState.BOOTING
        fleet.note(rec, "from the facade")
        assert rec.ring.tail(1)[0][2] == "from the facade"
    finally:
        await fleet.close()


def test_a_guest_panic_goes_to_the_handler_it_was_given(tmp_path: Path) -> None:
    ledger = ledger_of(tmp_path, Clock())
    rec = ledger.record("vm-0")
    ledger.set_state(rec, InstanceState.BOOTING)
    ledger.set_state(rec, InstanceState.RUNNING)
    panicked: list[InstanceRecord] = []
    events.on_event(ledger, rec, "GUEST_PANICKED", {"action": "pause"}, panicked.append)
    assert panicked == [rec]
    events.on_event(ledger, rec, "STOP", None, panicked.append)
    assert rec.state is InstanceState.PAUSED and panicked == [rec]


def snap(name: str, up: float, crashes: int) -> InstanceSnapshot:
    return InstanceSnapshot(name, 0, InstanceState.RUNNING, None, 0.0, 0, "", "", Path(),
                            counters=Counters(crashes=crashes, up_seconds=up))


def test_pool_totals_sum_this_runs_figures(tmp_path: Path) -> None:
    store = CrashStore(tmp_path / "crashes")
    store.add("vm-0", "BUG: this run", b"log", "report", 1.0)
    (tmp_path / "crashes" / "old").mkdir()  # an earlier run's crash: no instance this run
    (tmp_path / "crashes" / "old" / "description").write_text("BUG: earlier\n")
    (tmp_path / "crashes" / "old" / "log0").write_text("log")
    reloaded = CrashStore(tmp_path / "crashes")
    reloaded.add("vm-1", "BUG: this run", b"log", "report", 2.0)
    assert len(reloaded.crashes) == 2
    snaps = [snap("vm-0", 1800, 2), snap("vm-1", 5400, 1)]
    totals = pool_totals(snaps, started=0.0, now=7200.0, crashes=reloaded)
    assert (totals.vm_hours, totals.crashes, totals.crashes_per_hour, totals.unique) == \
        (2.0, 3, 1.5, 1)
    # Not started yet: no rate (and no division by zero).
    assert pool_totals(snaps, started=None, now=7200.0, crashes=reloaded).crashes_per_hour == 0
