"""The farm loop on real TCG guests: rounds, a real kernel crash, restarts, copies,
syzkaller's crashes/ layout, and trinity."""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import eventually, qemu_pids_in
from vmtui.backends.config.pool import parse_config
from vmtui.backends.console.ring import SOURCE, TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.vm.state import InstanceState
from vmtui.demo import demo_dict
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest

SYSRQ_CRASH = "kernel panic: sysrq triggered crash"  # syzkaller's title


def farm_fleet(guest: Guest, workdir: Path, count: int, **workload: Any) -> Fleet:
    data = demo_dict(guest, count=count, workdir=workdir)
    data["name"] = "farm"
    data["workload"] = {"backoff": 0, **workload}
    fleet = Fleet(parse_config(data, file="<test>", base_dir=workdir))
    fleet.watch.after_seconds = 0.5
    return fleet


def stdout(fleet: Fleet, name: str) -> list[str]:
    return [line[TEXT] for line in fleet.console(name).since(0)[0]
            if line[SOURCE] == "stdout"]


async def test_a_crash_is_filed_and_the_vm_restarted(guest: Guest, workdir: Path) -> None:
    workdir.mkdir(parents=True)
    (workdir / "payload.txt").write_text("payload-from-the-host\n")
    # Round 1 prints and ends; round 2 crashes the kernel; round 3 runs on a new boot
    # (and lasts, so the counters are read while it runs).
    fleet = farm_fleet(
        guest, workdir, 1, copy=[{"src": str(workdir / "payload.txt"),
                                  "dst": "/tmp/payload.txt"}],
        run="cat /tmp/payload.txt; echo farm-marker-{round}; "
            "if [ {round} = 2 ]; then sleep 0.5; echo c > /proc/sysrq-trigger; fi; "
            "if [ {round} -ge 3 ]; then sleep 120; fi")
    rec = fleet.record("farm-0")
    try:
        await fleet.start()
        await eventually(lambda: "farm-marker-2" in stdout(fleet, "farm-0"), 60)
        await eventually(lambda: rec.state is InstanceState.CRASHED, 30)
        crashed_at = time.monotonic()
        await eventually(lambda: "farm-marker-3" in stdout(fleet, "farm-0"), 120)
        back_after = time.monotonic() - crashed_at
        c = rec.counters
        assert (c.rounds, c.crashes, c.boots) == (2, 1, 2), c
        # The file was copied in again after the restart: round 3 read it too.
        assert stdout(fleet, "farm-0").count("payload-from-the-host") == 3
        await fleet.watch.settle()
        [crash] = fleet.crashes.all()
        assert crash.title == SYSRQ_CRASH
        assert crash.folder == workdir / "crashes" / hashlib.sha1(SYSRQ_CRASH.encode()).hexdigest()
        assert "farm-marker-2" in (crash.folder / "log0").read_text()
        assert SYSRQ_CRASH in (crash.folder / "report0").read_text()
        [incident] = [i for i in fleet.incidents if i.kind == "crash"]
        assert incident.complete and (incident.folder / "crash").resolve() == crash.folder
        # Nothing vmtui wrote holds the private key it logs in with.
        secret = [line for line in guest.ssh_key.read_text().splitlines()
                  if line and not line.startswith("-----")]
        written = [p for p in workdir.rglob("*") if p.is_file() and p.name != "payload.txt"]
        assert any(p.parent == incident.folder for p in written)
        for path in written:
            data = path.read_bytes().decode(errors="replace")
            assert not any(part in data for part in secret), path
        print(f"crash seen -> next round running: {back_after:.1f}s (reboot)")
    finally:
        await fleet.close()
    # Closing stops every loop and leaves no QEMU behind.
    assert all(not r.tasks for r in fleet.records.values())
    assert qemu_pids_in(workdir) == set()


async def test_two_instances_one_title_and_a_third_title(guest: Guest, workdir: Path) -> None:
    # Round 1: both crash the same way. Round 2: instance 0 reports a BUG of its
    # own (a line written to the kernel log), instance 1 just waits.
    fleet = farm_fleet(
        guest, workdir, 2, restart="on-crash",
        run="if [ {round} = 1 ]; then sleep 0.5; echo c > /proc/sysrq-trigger; "
            "elif [ {index} = 0 ]; then echo 'BUG: vmtui farm third title' > /dev/kmsg; "
            "fi; sleep 120")
    try:
        await fleet.start()
        await eventually(lambda: len(fleet.crashes.crashes) == 2, 180)
        await fleet.watch.settle()
        crashes = {c.title: c for c in fleet.crashes.all()}
        assert set(crashes) == {SYSRQ_CRASH, "BUG: vmtui farm third title"}
        same = crashes[SYSRQ_CRASH].folder
        assert sorted(p.name for p in same.iterdir()) == [
            "description", "log0", "log1", "report0", "report1", "stats.json"]
        assert (same / "description").read_text() == SYSRQ_CRASH + "\n"
        assert sorted(crashes[SYSRQ_CRASH].instances) == ["farm-0", "farm-1"]
        third = crashes["BUG: vmtui farm third title"]
        assert (third.folder / "description").read_text() == "BUG: vmtui farm third title\n"
        assert third.instances == ["farm-0"] and (third.folder / "log0").exists()
    finally:
        await fleet.close()


async def test_trinity_fuzzes_in_every_guest(guest: Guest, workdir: Path) -> None:
    # vmtui demo --fuzz --count 2, headless, for 60 s of fuzzing.
    from vmtui.app import VmtuiApp
    from vmtui.demo import demo_config
    from vmtui.widgets.pool_table import PoolTable

    fleet = Fleet(demo_config(guest, count=2, workdir=workdir, fuzz=True))
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(160, 30)) as pilot:
        deadline = time.monotonic() + 150
        while not all(r.phase.startswith("round") for r in fleet.records.values()):
            assert time.monotonic() < deadline, [r.phase for r in fleet.records.values()]
            await pilot.pause(0.5)
        await pilot.pause(60)
        table = app.screen.query_one(PoolTable)
        for name in fleet.records:
            lines = stdout(fleet, name)
            assert any(line.startswith("[main]") or line.startswith("[child")
                       for line in lines), lines[-5:]
            round_cell = table.get_cell(name, "round").plain
            assert round_cell.isdigit() and int(round_cell) >= 1
            print(name, fleet.record(name).counters, fleet.record(name).phase)
        await pilot.press("q")


def test_a_missing_copy_source_fails_at_check(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from vmtui.cli import main

    config = tmp_path / "farm.yaml"
    config.write_text("name: farm\ntype: scripted\nworkload:\n  run: fuzz\n"
                      "  copy: [{src: fuzzer.bin, dst: /root/fuzzer}]\n")
    assert main(["check", str(config)]) == 2
    assert capsys.readouterr().err == (
        f"vmtui: {config}: workload.copy[0].src: file not found: {tmp_path}/fuzzer.bin\n")



async def test_hold_and_max_restarts_on_real_guests(guest: Guest, workdir: Path) -> None:
    # Every round crashes the kernel after a second. farm-0 is held: it stays
    # crashed until released. farm-1 may restart once: its second crash parks it.
    fleet = farm_fleet(guest, workdir, 2, max_restarts=1, restart_window=600,
                       run="sleep 2; echo c > /proc/sysrq-trigger; sleep 60")
    held, parked = fleet.record("farm-0"), fleet.record("farm-1")
    try:
        await fleet.start()
        await fleet.hold("farm-0")
        await eventually(lambda: parked.state is InstanceState.FAILED, 120)
        assert parked.error == "parked: 1 restarts within 600s (max_restarts 1)"
        assert (parked.counters.boots, parked.counters.crashes) == (2, 2)
        assert held.state is InstanceState.CRASHED and held.phase == "held"
        assert held.counters.boots == 1
        await fleet.release("farm-0")
        await eventually(lambda: held.counters.boots == 2, 60)
    finally:
        await fleet.close()


async def test_restart_never_leaves_a_real_crash_alone(guest: Guest, workdir: Path) -> None:
    fleet = farm_fleet(guest, workdir, 1, restart="never",
                       run="sleep 1; echo c > /proc/sysrq-trigger; sleep 60")
    rec = fleet.record("farm-0")
    try:
        await fleet.start()
        await eventually(lambda: rec.phase == "left as it is (restart: never)", 60)
        assert rec.state is InstanceState.CRASHED and rec.title == SYSRQ_CRASH
        assert (rec.counters.boots, rec.counters.restarts) == (1, 0)
    finally:
        await fleet.close()


async def test_recycle_snapshot_restores_the_booted_guest(guest: Guest, workdir: Path,
                                                          tmp_path: Path) -> None:
    """recycle: snapshot — after a crash the guest comes back from the snapshot
    taken once it first ran (after its copies): same QEMU process, its clock set
    to now over a new SSH session, the console going on after a marker line."""
    workdir.mkdir(parents=True)
    (workdir / "payload.txt").write_text("copied-once\n")
    disk = tmp_path / "state.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    data = demo_dict(guest, count=1, workdir=workdir)
    data["name"] = "farm"
    data["vm"]["devices"] = [{"kind": "block", "file": str(disk), "format": "qcow2"}]
    data["workload"] = {
        "backoff": 0, "recycle": "snapshot",
        "copy": [{"src": str(workdir / "payload.txt"), "dst": "/tmp/payload.txt"}],
        # Round 1 leaves a file behind and crashes; round 2 must not see it.
        "run": "cat /tmp/payload.txt; ls /tmp/left-behind 2>&1; echo snap-{round}; "
               "if [ {round} = 1 ]; then touch /tmp/left-behind; sleep 0.5; "
               "echo c > /proc/sysrq-trigger; fi; sleep 120"}
    fleet = Fleet(parse_config(data, file="<test>", base_dir=workdir))
    fleet.watch.after_seconds = 0.5
    rec = fleet.record("farm-0")
    try:
        await fleet.start()
        pid = qemu_pids_in(workdir)
        await eventually(lambda: rec.state is InstanceState.CRASHED, 90)
        crashed_at = time.monotonic()
        await eventually(lambda: "snap-2" in stdout(fleet, "farm-0"), 60)
        back_after = time.monotonic() - crashed_at
        assert qemu_pids_in(workdir) == pid  # the same QEMU process
        out = stdout(fleet, "farm-0")
        assert out.count("copied-once") == 2  # the copy made before the snapshot is still there
        assert out[-2:] == ["ls: /tmp/left-behind: No such file or directory", "snap-2"]
        assert (rec.counters.crashes, rec.counters.boots) == (1, 2)
        clock = await fleet.guest("farm-0").run("date +%s", timeout=30)
        assert abs(int(clock.stdout) - time.time()) < 5
        log = rec.console_log.read_text()
        assert log.count("restored the snapshot vmtui-restart") == 1
        assert log.index("Kernel panic") < log.index("restored the snapshot")
        print(f"crash seen -> next round running: {back_after:.1f}s (snapshot)")
    finally:
        await fleet.close()
