"""No failure is lost: a background task that raises, an event follower that
breaks, an incident that cannot be written, all show on their instance."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from tests.helpers import eventually, scripted_config
from tests.test_app import until
from vmtui.app import VmtuiApp
from vmtui.backends.console.ring import SOURCE, TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.scripted import ScriptedInstance
from vmtui.backends.vm.state import InstanceState
from vmtui.backends.vm.tasks import Background
from vmtui.screens.incidents import IncidentsScreen


async def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def notes(fleet: Fleet, name: str) -> list[str]:
    lines, _ = fleet.console(name).since(0)
    return [line[TEXT] for line in lines if line[SOURCE] == "vmtui"]


async def test_background_reports_a_failure_and_not_a_cancellation() -> None:
    failures: list[tuple[str, BaseException]] = []
    tasks = Background("owner", on_failure=lambda name, exc: failures.append((name, exc)))

    async def boom() -> None:
        raise RuntimeError("boom")

    tasks.spawn(boom(), "bad")
    tasks.spawn(asyncio.sleep(60), "slow")
    await wait_for(lambda: len(tasks) == 1)
    await tasks.cancel()
    assert [(name, str(exc)) for name, exc in failures] == [("bad", "boom")]
    assert len(tasks) == 0


async def test_a_failing_task_shows_on_its_instance(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=2))
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(140, 30)) as pilot:
        await until(pilot, lambda: all(s.state is InstanceState.RUNNING
                                       for s in fleet.snapshot()), 5)

        async def broken() -> None:
            raise RuntimeError("the disk went away")

        fleet.record("snap-1").tasks.spawn(broken(), "probe")
        await until(pilot, lambda: fleet.snapshot()[1].fault != "", 5)
        snap = fleet.snapshot()[1]
        assert snap.fault == "probe failed: RuntimeError('the disk went away')"
        assert fleet.snapshot()[0].fault == ""
        assert "background task probe failed: RuntimeError('the disk went away')" in notes(
            fleet, "snap-1")
        # The instance's status line says so.
        await pilot.press("down", "enter")
        app.bridge.push_pool()
        await pilot.pause(0.2)
        status = str(app.screen.query_one("#instance-status", Static).render())
        assert "⚠ probe failed: RuntimeError('the disk went away')" in status
        await pilot.press("q", "q")
    log = (fleet.record("snap-1").console_log).read_text()
    assert "[vmtui] background task probe failed" in log


async def test_a_broken_event_follower_says_so_and_follows_again(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=1))
    try:
        await fleet.start()
        rec = fleet.record("snap-0")
        assert rec.state is InstanceState.RUNNING
        # The event stream breaks on its next event (the STOP of this pause).
        inst = rec.instance
        assert isinstance(inst, ScriptedInstance)
        inst.events_broken = True
        await fleet.pause("snap-0")
        await wait_for(lambda: rec.fault.startswith("state tracking broken:"))
        assert rec.state is InstanceState.RUNNING  # stale, and the instance says so
        assert any("the state shown may be stale" in n for n in notes(fleet, "snap-0"))
        # It follows again after reading the state afresh: the VM is paused.
        await wait_for(lambda: rec.state is InstanceState.PAUSED, 5)
        await wait_for(lambda: "state tracking restored" in notes(fleet, "snap-0"))
        assert rec.fault == ""
        await fleet.resume("snap-0")
        await fleet.wait_state("snap-0", InstanceState.RUNNING, timeout=5)
    finally:
        await fleet.close()


CRASH = ["[    2.500000] Kernel panic - not syncing: scripted panic"]


async def test_a_failing_incident_writer_is_reported(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=1, lines=CRASH), run_name="run")
    fleet.watch.after_seconds = 0
    rec = fleet.record("snap-0")
    rec.workdir.mkdir(parents=True)
    (rec.workdir / "incidents").write_text("a file where the folder should be\n")
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: rec.state is InstanceState.CRASHED, 5)
        await fleet.watch.settle()
        [incident] = fleet.incidents
        assert not incident.complete
        assert incident.status.startswith("failed: NotADirectoryError")
        assert any(n.startswith("writing the incident 'kernel panic: "
                                "scripted panic' failed: NotADirectoryError")
                   for n in notes(fleet, "snap-0"))
        await pilot.press("I")
        assert isinstance(app.screen, IncidentsScreen)
        table = app.screen.query_one(DataTable)
        kind = str(table.get_row_at(0)[2])
        assert kind.startswith("crash (failed: NotADirectoryError"), kind
        await pilot.press("q", "q")


@pytest.mark.parametrize("action", ["pause", "reset"])
async def test_scripted_lifecycle_moves_state_by_events(tmp_path: Path, action: str) -> None:
    # The scripted type emits QEMU's events, so the follower is exercised without QEMU.
    fleet = Fleet(scripted_config(tmp_path, count=1))
    try:
        await fleet.start()
        await getattr(fleet, action)("snap-0")
        rec = fleet.record("snap-0")
        want = ["STOP"] if action == "pause" else ["RESET"]
        await eventually(lambda: [e.name for e in rec.events] == want, 5)
        state = InstanceState.PAUSED if action == "pause" else InstanceState.RUNNING
        await fleet.wait_state("snap-0", state, timeout=5)
    finally:
        await fleet.close()


async def test_a_paused_vm_is_not_declared_hung(tmp_path: Path) -> None:
    """Paused on purpose (space) is silent on purpose; the clock starts again on resume."""
    config = scripted_config(tmp_path, count=1)
    config = dataclasses.replace(config, pool=dataclasses.replace(
        config.pool, no_output_timeout=1))
    fleet = Fleet(config)
    fleet.watch.after_seconds = 0
    try:
        await fleet.start()
        name = fleet.snapshot()[0].name
        await fleet.pause(name)
        await fleet.wait_state(name, InstanceState.PAUSED, timeout=5)
        await asyncio.sleep(2.5)  # past the timeout, with the clock ticking each second
        assert fleet.record(name).state is InstanceState.PAUSED
        assert fleet.snapshot()[0].hung_in is None and fleet.incidents == []
        await fleet.resume(name)
        await fleet.wait_state(name, InstanceState.RUNNING, timeout=5)
        await fleet.wait_state(name, InstanceState.CRASHED, timeout=5)
        assert fleet.record(name).title == "no output from test machine"
    finally:
        await fleet.close()


async def test_a_stopped_vm_process_shows_paused_and_running_once_continued(
        tmp_path: Path) -> None:
    """SIGSTOP on the VM process: silent, not hung; SIGCONT: running again."""
    config = scripted_config(tmp_path, count=1)
    config = dataclasses.replace(config, pool=dataclasses.replace(
        config.pool, no_output_timeout=1))
    fleet = Fleet(config)
    try:
        await fleet.start()
        rec = fleet.record("snap-0")
        inst = rec.instance
        assert isinstance(inst, ScriptedInstance)
        stopped = [True]
        inst.frozen = lambda: stopped[0]  # type: ignore[method-assign]
        await fleet.wait_state("snap-0", InstanceState.PAUSED, timeout=3)
        assert "the VM process is stopped" in rec.error
        await asyncio.sleep(2.5)  # past the timeout
        assert rec.state is InstanceState.PAUSED and fleet.incidents == []
        stopped[0] = False
        await fleet.wait_state("snap-0", InstanceState.RUNNING, timeout=3)
        assert "the VM process continues" in notes(fleet, "snap-0")
    finally:
        await fleet.close()


async def test_what_vmtui_writes_is_for_its_owner_only(tmp_path: Path) -> None:
    """Console logs, incidents and crashes hold what guests printed: 0700 folders, a
    0600 log, whatever the umask."""
    old = os.umask(0o022)
    try:
        fleet = Fleet(scripted_config(tmp_path, count=1, lines=["Kernel panic - not syncing: x"]),
                      run_name="run")
        fleet.watch.after_seconds = 0
        try:
            await fleet.start()
            await eventually(lambda: bool(fleet.incidents) and fleet.incidents[0].complete, 10)
        finally:
            await fleet.close()
    finally:
        os.umask(old)
    rec = next(iter(fleet.records.values()))
    incident = fleet.incidents[0].folder
    crash_root = tmp_path / "crashes"
    for folder in (fleet.workdir, rec.workdir, incident.parent, incident, crash_root,
                   next(crash_root.iterdir())):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    assert rec.console_log.stat().st_mode & 0o777 == 0o600
