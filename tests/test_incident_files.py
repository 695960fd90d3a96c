"""What an incident folder holds, read back by content (scripted VMs; the real
guest's version is test_incident_real.py): the report in report.txt, the folder
named by the final title, each diagnose step's own console lines, no empty
file, summary.json; a burst of reports read from a bounded window; the Crashes
screen's report view from its top, with keys to the full log and the incident."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import eventually, scripted_config
from tests.test_app import until
from vmtui.app import VmtuiApp
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.monitor.detector import REPORT_LINES
from vmtui.backends.monitor.evidence import slug
from vmtui.backends.vm.state import InstanceState
from vmtui.screens.crashes import CrashReportScreen
from vmtui.screens.incidents import IncidentScreen
from vmtui.screens.text import TextScreen
from vmtui.widgets.console_view import ConsoleView

# A real Oops from the test guest (vmtui's crash module, "null"), as its console printed it.
OOPS = (Path(__file__).parent / "data" / "linux-null-oops.log").read_text().splitlines()
FIRST = "BUG: kernel NULL pointer dereference, address: ADDR"
FINAL = "BUG: unable to handle kernel NULL pointer dereference in vmtui_crash_null"


def no_empty_files(folder: Path) -> None:
    empty = [p.name for p in folder.iterdir() if p.is_file() and p.stat().st_size == 0]
    assert not empty, f"empty files in {folder.name}: {empty}"


async def crashed(tmp_path: Path, lines: list[str]) -> Fleet:
    fleet = Fleet(scripted_config(tmp_path, count=1, lines=["booting", *lines]))
    fleet.watch.after_seconds = 0.2
    await fleet.start()
    await fleet.wait_state("snap-0", InstanceState.CRASHED, timeout=5)
    await fleet.watch.settle()
    return fleet


async def test_a_crash_incident_is_named_by_its_final_title_and_holds_its_report(
        tmp_path: Path) -> None:
    fleet = await crashed(tmp_path, OOPS)
    try:
        [incident] = fleet.incidents
        assert incident.complete and incident.title == FINAL
        folder = incident.folder
        assert folder.name.endswith(f"-{slug(FINAL)}") and folder.is_dir()
        assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # renamed, not copied
        report = incident.read("report.txt")
        assert report.startswith(f"title: {FINAL}\nkind: crash\ntype: NULL-POINTER-DEREFERENCE\n")
        body = report.split("\n\n", 1)[1]
        assert body.startswith("BUG: kernel NULL pointer dereference, address: 0000000000000000")
        assert "RIP: 0010:vmtui_crash_null+0xc/0x20" in body and " ksys_write+" in body
        no_empty_files(folder)
        assert "diagnosis.txt" not in incident.files
        summary = json.loads(incident.read("summary.json"))
        assert summary["title"] == FINAL and summary["first_title"] == FIRST
        assert summary["kind"] == "crash" and summary["instance"] == "snap-0"
        assert summary["folder"] == folder.name
        assert sorted(summary["files"]) == incident.files
        assert "report as syzkaller's reportN holds it" in summary["files"]["report.txt"]
        assert summary["report_window"] == {"lines_read": len(OOPS), "lines_not_read": 0,
                                            "lines_lost": 0}
        crash = fleet.crashes.all()[0].folder
        assert (folder / "crash").resolve() == crash.resolve()
        shown = incident.read("crash").splitlines()
        assert shown[1] == f"-> {crash.resolve()}"
        assert {"description", "log0", "report0"} <= set(shown[2:])
    finally:
        await fleet.close()


async def test_each_diagnose_step_keeps_its_own_console_lines(tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=1, lines=["up"]))
    fleet.watch.after_seconds = 0.2
    await fleet.start()
    try:
        await fleet.diagnose("snap-0", "diagnose")
        await fleet.watch.settle()
        [incident] = fleet.incidents
        text = incident.read("diagnosis.txt")
        steps = text.split("== ")[1:]
        assert [s.split(" ==")[0] for s in steps] == [
            "sysrq t", "sysrq w", "sysrq l", "registers cpu 0", "registers cpu 1"]
        for step, letter in zip(steps, "twl", strict=False):
            assert "sent via keyboard\n-- console: 1 line(s) --\n" in step
            assert step.rstrip().endswith(f"sysrq: scripted SysRq {letter}"), step
        assert "-- console: nothing printed --" in steps[3]
        no_empty_files(incident.folder)
        assert "console-after.txt" not in incident.files  # nothing came after: no file
    finally:
        await fleet.close()


async def test_a_burst_of_reports_is_read_from_a_bounded_window(tmp_path: Path) -> None:
    warning = [line for line in OOPS]  # the same Oops, over and over
    burst = warning * (REPORT_LINES // len(OOPS) + 20)
    fleet = await crashed(tmp_path, burst)
    try:
        [incident] = fleet.incidents
        assert incident.title == FINAL
        summary = json.loads(incident.read("summary.json"))
        window = summary["report_window"]
        assert window["lines_read"] == REPORT_LINES
        assert window["lines_read"] + window["lines_not_read"] == len(burst)
        report = incident.read("report.txt")
        assert f"read from the first {REPORT_LINES} console lines after the crash began" in report
        assert report.count("BUG: kernel NULL pointer dereference, address:") == 1
    finally:
        await fleet.close()


async def test_the_crash_report_view_opens_at_its_top_with_keys_to_log_and_incident(
        tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=1, lines=["booting", *OOPS]))
    fleet.watch.after_seconds = 0.2
    app = VmtuiApp(LocalControl(fleet))
    async with app.run_test(size=(100, 24)) as pilot:
        await eventually(lambda: bool(fleet.incidents) and fleet.incidents[0].complete, 10)
        await pilot.press("C")
        await pilot.pause(0.6)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, CrashReportScreen), 3)
        view = app.screen.query_one(ConsoleView)
        await pilot.pause(0.3)
        assert view.scroll_y == 0 and not view.following
        assert view.plain_lines()[0] == FINAL
        await pilot.press("l")
        await until(pilot, lambda: type(app.screen) is TextScreen, 3)
        log = app.screen.query_one(ConsoleView).plain_lines()
        assert log[0] == "booting" and any("RIP: 0010:vmtui_crash_null" in line for line in log)
        await pilot.press("q")
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, IncidentScreen), 3)
        assert app.screen.incident is fleet.incidents[0]
        assert app.screen.shown_file == "report.txt"
        await pilot.press("q", "q", "q", "q")
