"""The farm loop's rules, on the scripted type (its guest plays a tiny shell:
echo, panic, sleep, exit), and the workload config. Real guests: test_farm_real.py."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import eventually, scripted_config
from vmtui.backends.config.pool import parse_config
from vmtui.backends.config.schema import ConfigError
from vmtui.backends.console.ring import SOURCE, TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.vm.state import InstanceState


def farm(tmp_path: Path, count: int = 1, **workload: Any) -> Fleet:
    fleet = Fleet(scripted_config(tmp_path, count=count, workload={"backoff": 0, **workload}))
    fleet.watch.after_seconds = 0
    return fleet


def stdout(fleet: Fleet, name: str) -> list[str]:
    return [line[TEXT] for line in fleet.console(name).since(0)[0] if line[SOURCE] == "stdout"]


async def test_rounds_run_again_and_a_crash_restarts_the_vm(tmp_path: Path) -> None:
    # Round 2 panics: the crash is filed, the VM restarted, round 3 runs.
    fleet = farm(tmp_path, run="echo marker {name} {round}; if {round} 2 panic round two; "
                               "if {round} 3 sleep 60")
    rec = fleet.record("snap-0")
    try:
        await fleet.start()
        await eventually(lambda: "marker snap-0 3" in stdout(fleet, "snap-0"), 10)
        c = rec.counters
        assert (c.rounds, c.crashes, c.boots, c.restarts) == (2, 1, 2, 1)
        assert stdout(fleet, "snap-0") == ["marker snap-0 1", "marker snap-0 2",
                                           "marker snap-0 3"]
        await fleet.watch.settle()
        [crash] = fleet.crashes.all()
        assert crash.title == "kernel panic: round two"
        assert (crash.folder / "description").read_text() == crash.title + "\n"
        # syzkaller names the folder by the SHA-1 of the title.
        assert crash.folder.name == hashlib.sha1(crash.title.encode()).hexdigest()
        report = (crash.folder / "report0").read_text()
        assert report.startswith(crash.title + "\n\nKernel panic - not syncing: round two")
        assert "marker snap-0 2" in (crash.folder / "log0").read_text()
        [incident] = [i for i in fleet.incidents if i.kind == "crash"]
        assert (incident.folder / "crash").resolve() == crash.folder.resolve()
    finally:
        await fleet.close()


async def test_max_restarts_parks_the_instance_as_failed(tmp_path: Path) -> None:
    fleet = farm(tmp_path, run="panic always {round}", max_restarts=2, restart_window=600)
    try:
        await fleet.start()
        rec = fleet.record("snap-0")
        await eventually(lambda: rec.state is InstanceState.FAILED, 10)
        assert rec.error == "parked: 2 restarts within 600s (max_restarts 2)"
        assert rec.counters.restarts == 2 and rec.counters.boots == 3
        assert rec.counters.crashes == 3
        snap = fleet.snapshot()[0]
        assert snap.phase == "parked" and snap.error.startswith("parked: 2 restarts")
    finally:
        await fleet.close()


async def test_restart_never_leaves_a_crashed_vm_crashed(tmp_path: Path) -> None:
    fleet = farm(tmp_path, run="panic once", restart="never")
    try:
        await fleet.start()
        rec = fleet.record("snap-0")
        await eventually(lambda: rec.state is InstanceState.CRASHED, 5)
        await eventually(lambda: rec.phase == "left as it is (restart: never)", 5)
        assert rec.counters.boots == 1 and rec.counters.restarts == 0
    finally:
        await fleet.close()


async def test_a_held_crashed_vm_is_not_recycled(tmp_path: Path) -> None:
    fleet = farm(tmp_path, run="sleep 1; panic held {round}")
    try:
        await fleet.start()
        rec = fleet.record("snap-0")
        await fleet.hold("snap-0")
        await eventually(lambda: rec.state is InstanceState.CRASHED, 5)
        await eventually(lambda: rec.phase == "held", 5)
        await fleet.watch.settle()
        assert rec.counters.boots == 1 and rec.state is InstanceState.CRASHED
        await fleet.release("snap-0")
        await eventually(lambda: rec.counters.boots == 2, 5)
    finally:
        await fleet.close()


async def test_the_command_ending_runs_it_again_only_with_always(tmp_path: Path) -> None:
    fleet = farm(tmp_path, count=2, run="echo round {round}; exit 3", restart="on-crash")
    try:
        await fleet.start()
        await eventually(lambda: all(r.phase == "idle (the command ended)"
                                     for r in fleet.records.values()), 5)
        assert stdout(fleet, "snap-1") == ["round 1"]
        assert any("round 1: the command exited with status 3" in line[TEXT]
                   for line in fleet.console("snap-1").since(0)[0])
    finally:
        await fleet.close()


async def test_an_operator_stop_waits_for_the_operator(tmp_path: Path) -> None:
    fleet = farm(tmp_path, run="sleep 0.05; echo tick {round}")
    try:
        await fleet.start()
        rec = fleet.record("snap-0")
        await eventually(lambda: rec.counters.rounds >= 2, 5)
        await fleet.kill("snap-0")
        await eventually(lambda: rec.phase == "stopped", 5)
        rounds = rec.counters.rounds
        await fleet.boot("snap-0")
        await eventually(lambda: rec.counters.rounds > rounds, 5)
        assert rec.counters.restarts == 0  # the operator's start is no restart
    finally:
        await fleet.close()


def test_workload_config_errors_name_the_field(tmp_path: Path) -> None:
    base: dict[str, Any] = {"name": "w", "type": "scripted", "workdir": str(tmp_path)}
    cases = [
        ({"run": ""}, "workload.run: the command is empty"),
        ({"run": "x", "restart": "sometimes"},
         "workload.restart: a string 'sometimes' is not one of 'always', 'on-crash', 'never'"),
        ({"run": "x", "copy": [{"src": "missing.bin"}]},
         f"workload.copy[0].src: file not found: {tmp_path}/missing.bin"),
        ({"run": "x", "copy": [{"src": ".", "dst": "relative"}]},
         "workload.copy[0].dst: 'relative' must be an absolute path in the guest"),
        ({"run": "x", "env": {"1BAD": "v"}}, "workload.env.1BAD: not a shell variable name"),
        ({"run": "x", "max_restarts": -1},
         "workload.max_restarts: -1 is out of range (allowed: 0 to 1000000)"),
    ]
    for workload, message in cases:
        with pytest.raises(ConfigError) as info:
            parse_config({**base, "workload": workload}, file="<t>", base_dir=tmp_path)
        assert str(info.value) == f"<t>: {message}"


def test_the_command_gets_its_variables_and_placeholders(tmp_path: Path) -> None:
    run = "fuzz --id {index} --out /tmp/{name}.{round} ${HOME}"
    config = parse_config({"name": "w", "type": "scripted", "workdir": str(tmp_path),
                           "workload": {"run": run, "env": {"TAG": "it's {name}"}}},
                          file="<t>", base_dir=tmp_path)
    assert config.pool.workload is not None
    assert config.pool.workload.command("w-3", 3, 7) == (
        "export TAG='it'\"'\"'s w-3'; fuzz --id 3 --out /tmp/w-3.7 ${HOME}")


async def test_the_crashes_screen_opens_the_newest_report(tmp_path: Path) -> None:
    from textual.widgets import DataTable

    from vmtui.app import VmtuiApp
    from vmtui.screens.crashes import CrashesScreen
    from vmtui.screens.text import TextScreen
    from vmtui.widgets.console_view import ConsoleView

    fleet = farm(tmp_path, count=2, run="echo {name}; if {index} 1 panic \x1b[31mtwo\x9b",
                 restart="never")
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(160, 30)) as pilot:
        await eventually(lambda: fleet.crashes.all() != [], 10)
        await fleet.watch.settle()
        await pilot.press("C")
        assert isinstance(app.screen, CrashesScreen)
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1
        # syzkaller's title drops the controls; the report's text keeps them, inert.
        assert str(table.get_row_at(0)[4]) == "kernel panic: [31mtwo"
        await pilot.press("enter")
        assert isinstance(app.screen, TextScreen)
        lines = app.screen.query_one(ConsoleView).plain_lines()
        assert lines[0] == "kernel panic: [31mtwo"
        assert "Kernel panic - not syncing: ␛[31mtwo\ufffd" in lines[2:]
        await pilot.press("q", "q", "q")


async def test_workload_output_keeps_the_no_output_clock_from_firing(tmp_path: Path) -> None:
    # A guest whose console is quiet but whose fuzzer talks is alive; one silent
    # on both is hung.
    ticking = "echo tick; sleep 0.3; " * 12
    data: dict[str, Any] = {"name": "quiet", "type": "scripted", "count": 2,
                            "workdir": str(tmp_path), "no_output_timeout": 1,
                            "workload": {"run": ticking + "sleep 60", "backoff": 0,
                                         "restart": "never"}}
    fleet = Fleet(parse_config(data, file="<t>", base_dir=tmp_path))
    fleet.watch.after_seconds = 0
    try:
        await fleet.start()
        await asyncio.sleep(2.5)  # a window: the verdict must not come while it talks
        assert all(r.state is InstanceState.RUNNING for r in fleet.records.values())
        await eventually(lambda: all(r.title == "no output from test machine"
                                     for r in fleet.records.values()), 5)
    finally:
        await fleet.close()


async def test_a_pvpanic_crash_files_a_report_from_where_it_happened(tmp_path: Path) -> None:
    # The panic event (no console line to start from) files what follows it,
    # not the whole boot.
    fleet = Fleet(scripted_config(tmp_path, count=1, lines=["early boot line"]))
    fleet.watch.after_seconds = 0.3
    try:
        await fleet.start()
        inst = fleet.instance("snap-0")
        inst.emit("GUEST_PANICKED")  # type: ignore[union-attr]
        await eventually(lambda: fleet.record("snap-0").state is InstanceState.CRASHED, 5)
        await fleet.instance("snap-0").write_console(b"after the panic\n")  # type: ignore[union-attr]
        await fleet.watch.settle()
        [crash] = fleet.crashes.all()
        report = (crash.folder / "report0").read_text()
        assert "after the panic" in report and "early boot line" not in report
        assert "early boot line" in (crash.folder / "log0").read_text()
    finally:
        await fleet.close()
