"""Writing incidents: the folder of each crash, verdict and diagnose, and the crash filed.

The watch decides that something happened; this writes down what: the console
before and after, the report read from the console after the crash's first
line (off the event loop, from at most ``monitor.detector.REPORT_LINES`` lines, so a
burst of reports never stalls the cockpit), each diagnose step's own console
output, the registers, the VM's events and facts, the config; the folder then
takes the report's final title as its name, the crash is filed in the pool's
``crashes/`` and ``summary.json`` says what is where.

The writer is handed the fleet's :class:`Ledger` (clocks, notes), the config,
the pool's crash store and the watch's diagnose, never the Fleet itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from vmtui.backends.config.pool import Config
from vmtui.backends.console.ring import ConsoleRing
from vmtui.backends.fleet.ledger import Ledger
from vmtui.backends.fleet.records import InstanceRecord
from vmtui.backends.fleet.report_wait import ReportWindow, report_window, rest_of_report
from vmtui.backends.inert import GuestText
from vmtui.backends.monitor import evidence
from vmtui.backends.monitor.crashes import CrashStore
from vmtui.backends.monitor.detector import CONSOLE_SOURCES, NO_OUTPUT
from vmtui.backends.monitor.evidence import Incident
from vmtui.backends.monitor.report import Report, find_reports
from vmtui.backends.monitor.report.symbolized import symbolized
from vmtui.backends.monitor.vcpus import STUCK
from vmtui.backends.symbols.frames import Symbolizer
from vmtui.backends.symbols.symtab import SymbolsError
from vmtui.backends.vm.capabilities import Diagnosable, Infoer
from vmtui.backends.vm.diagnose import Diagnosis
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.state import InstanceState
from vmtui.backends.vm.tasks import Background

log = logging.getLogger(__name__)
SYMBOLS_IDLE = 600.0  # seconds without a report before the Symbolizer ends

Diagnose = Callable[..., Awaitable[Diagnosis]]


class IncidentWriter:
    """The incident folders of a fleet, each written by a task of its own.

    Args:
        ledger: the fleet's records, clocks and notes.
        config: the pool's config (written into each folder; OS, VM type).
        crashes: the pool's unique crashes: each crash and verdict is filed there.
        diagnose: the watch's diagnose, to ask a silent VM what it is doing.
        after_seconds: how long a crash's report and a verdict's console are waited for.
    """

    def __init__(self, ledger: Ledger, config: Config, crashes: CrashStore,
                 diagnose: Diagnose, after_seconds: float) -> None:
        self.ledger = ledger
        self.config = config
        self.crashes = crashes
        self.diagnose = diagnose
        self.after_seconds = after_seconds
        self.incidents: list[Incident] = []
        # Incident writers; each records its own failure on its incident.
        self._tasks = Background(f"{config.pool.name}:incidents")
        # With the pool's vmlinux: one Symbolizer (its addr2line stays warm), made
        # at the first report; reports are symbolised one at a time. addr2line
        # holds what it decoded (0.2 to 1.2 GB): it ends after SYMBOLS_IDLE unused.
        self._symbolizer: Symbolizer | None = None
        self._symbols_lock = asyncio.Lock()
        self._symbols_idle: asyncio.TimerHandle | None = None

    def collect(self, rec: InstanceRecord, kind: str, title: GuestText,
                diagnosis: Diagnosis | None = None) -> None:
        """Start writing an incident of ``rec``; a crash's or verdict's task is
        kept on the record (the farm waits for it)."""
        task = self._tasks.spawn(self.write_incident(rec, kind, title, diagnosis),
                                 f"incident:{rec.name}")
        if kind != "diagnose":
            rec.incident = task

    async def write_incident(self, rec: InstanceRecord, kind: str, title: GuestText,
                             diagnosis: Diagnosis | None = None) -> Incident:
        """Write an incident folder for ``rec``; returns once it is complete.

        A folder that cannot be written (disk full, read-only) leaves an
        incident whose ``error`` says why, and a note on the instance.
        """
        when = self.ledger.wallclock()
        incident = Incident(rec.name, kind, GuestText(title), when,
                            rec.workdir / "incidents", boot=rec.counters.boots)
        self.incidents.append(incident)
        try:
            await self._write(rec, incident, diagnosis)
        except (OSError, ValueError) as exc:
            incident.error = f"{type(exc).__name__}: {exc}"
            self.ledger.note(rec, f"writing the incident {incident.title!r} failed: "
                                  f"{incident.error}")
            log.error("%s: writing an incident failed", rec.name, exc_info=exc)
        return incident

    async def _write(self, rec: InstanceRecord, incident: Incident,
                     diagnosis: Diagnosis | None) -> None:
        kind, title = incident.kind, incident.title
        folder = incident.folder = evidence.new_folder(rec.workdir, title, incident.time)
        mark = rec.ring.next_seq
        evidence.write(folder, "console-before.txt", evidence.console_text(
            rec.ring.since(max(0, mark - evidence.BEFORE_LINES))[0]))
        stuck = diagnosis is not None and diagnosis.action == STUCK
        if kind == "verdict" and (title == NO_OUTPUT or stuck) \
                and rec.state is not InstanceState.PAUSED:
            # Silent but running: ask the kernel what it is doing (into diagnosis.txt;
            # a stuck vCPU's samples first: SysRq l's NMI backtrace may name its stack).
            try:
                found = await self.diagnose(rec.name, "diagnose", record=False)
            except VMError as exc:
                found = Diagnosis("diagnose", {"failed": str(exc)})
            if diagnosis is not None:
                found = Diagnosis(found.action, {**diagnosis.sections, **found.sections},
                                  found.marks)
            diagnosis = found
        registers = await self._registers(rec)
        info: dict[str, str] = {}
        inst = rec.instance
        if isinstance(inst, Infoer):
            try:
                info = await inst.info()
            except VMError as exc:
                info = {"info.txt": f"unavailable: {exc}\n"}
        report: Report | None = None
        window: ReportWindow | None = None
        if kind == "crash":  # the rest of the report, or less when no more can come
            await rest_of_report(rec, incident.time, self.after_seconds)
            window = report_window(rec)
            report = await self._read_report(rec, incident.title, window)
        else:
            await asyncio.sleep(self.after_seconds)
        evidence.write(folder, "console-after.txt",
                       evidence.console_text(rec.ring.since(mark)[0]))
        evidence.write(folder, "registers.txt", registers)
        if diagnosis is not None:
            evidence.write(folder, "diagnosis.txt",
                           diagnosis.text(step_output(diagnosis, rec.ring)))
        evidence.write_events(folder, rec.events)
        for name, text in info.items():
            evidence.write(folder, name, text)
        evidence.write(folder, "config.yaml", evidence.config_yaml(self.config))
        if kind == "crash":
            incident.title = GuestText(rec.title)
        evidence.write(folder, "report.txt", self._report_text(rec, incident, report, window))
        first = title
        folder = incident.folder = evidence.rename_folder(folder, incident.title, incident.time)
        if kind != "diagnose":
            self._save_crash(rec, incident, report)
        evidence.write_summary(folder, incident, _facts(rec, first, incident, report, window))
        incident.files = sorted(p.name for p in folder.iterdir())
        incident.complete = True

    async def _registers(self, rec: InstanceRecord) -> str:
        inst = rec.instance
        if inst is None:
            return "the VM was not running\n"
        if not isinstance(inst, Diagnosable):
            return (f"not available: the {self.config.pool.type} VM type does not run "
                    "the machine, so it cannot stop its CPUs\n")
        if rec.instance_exited():
            return "the VM was not running\n"
        try:
            regs = await inst.registers()
        except VMError as exc:
            return f"registers unavailable: {exc}\n"
        return "".join(f"== cpu {cpu} ==\n{text.rstrip()}\n" for cpu, text in regs.items())

    async def _read_report(self, rec: InstanceRecord, first: GuestText,
                           window: ReportWindow) -> Report | None:
        """Read the report printed since the crash began (in a thread: a burst of
        reports is work), and title ``rec`` by it (syzkaller's title, from the
        whole report) unless it was renamed since."""
        if not window.text:
            return None
        reports = await asyncio.to_thread(find_reports, window.text, self.config.pool.os)
        if not reports:
            return None
        if rec.title == first:
            if rec.error == first:
                rec.error = reports[0].title
            rec.title = reports[0].title
        return await self._symbolized(rec, reports[0])

    async def _symbolized(self, rec: InstanceRecord, report: Report) -> Report:
        """``report`` symbolised against the pool's vmlinux and modules, if it names them;
        as it was (and a note on the instance) when that fails."""
        pool = self.config.pool
        if pool.vmlinux is None or pool.os != "linux":
            return report
        async with self._symbols_lock:
            if self._symbols_idle is not None:
                self._symbols_idle.cancel()
            self._symbols_idle = asyncio.get_running_loop().call_later(
                SYMBOLS_IDLE, lambda: self._tasks.spawn(self._end_symbolizer(), "symbols-idle"))
            try:
                if self._symbolizer is None:
                    self._symbolizer = Symbolizer(pool.vmlinux, pool.kernel_modules)
                return await asyncio.to_thread(symbolized, report, self._symbolizer)
            except SymbolsError as exc:
                self.ledger.note(rec, f"the report is not symbolised: {exc}")
                await self._end_symbolizer(locked=True)  # the next report starts anew
                return report

    async def _end_symbolizer(self, locked: bool = False) -> None:
        """End the Symbolizer's addr2line processes (the next report starts them again)."""
        async with contextlib.nullcontext() if locked else self._symbols_lock:
            symbolizer, self._symbolizer = self._symbolizer, None
            if symbolizer is not None:
                await asyncio.to_thread(symbolizer.close)

    def _report_text(self, rec: InstanceRecord, incident: Incident, report: Report | None,
                     window: ReportWindow | None) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(incident.time))
        head = f"title: {incident.title}\nkind: {incident.kind}\n"
        if report is not None:
            head += (f"type: {report.kind}\ncorrupted: {report.reason or 'no'}\n"
                     + "".join(f"alt: {alt}\n" for alt in report.alts)
                     + (f"guilty file: {report.guilty}\n" if report.guilty else ""))
        head += f"instance: {rec.name}\nstate: {rec.state.value}\ntime: {stamp}\n"
        if window is None:
            return head
        notes = []
        if window.lost:
            notes.append(f"{window.lost} line(s) from the crash's start on had left the "
                         "timeline before they were read: see console.log")
        if window.left:
            notes.append(f"read from the first {window.lines} console lines after the crash "
                         f"began; {window.left} more were not read (they are in "
                         "console-after.txt and console.log)")
        head += "".join(f"note: {note}\n" for note in notes)
        if report is None:
            return head + (f"\nno kernel report was found in the {window.lines} console "
                           "line(s) after the crash began: see console-after.txt\n")
        return f"{head}\n{report.text.rstrip()}\n"

    def _save_crash(self, rec: InstanceRecord, incident: Incident, report: Report | None) -> None:
        """File the crash under its title in the pool's crashes/ (syzkaller's layout);
        the incident links to it."""
        boot_lines = rec.ring.since(rec.boot_seq)[0]
        text = report.text if report is not None else evidence.console_text(
            rec.ring.since(rec.crash_seq)[0][:2000], stamps=False)
        seen = self.crashes.add(
            rec.name, incident.title,
            evidence.console_text(boot_lines, stamps=False).encode("utf-8", "replace"),
            f"{incident.title}\n\n{text}", incident.time)
        link = incident.folder / "crash"
        link.symlink_to(os.path.relpath(seen.crash.folder, incident.folder))

    async def attach_leftovers(self, rec: InstanceRecord, files: dict[str, bytes]) -> None:
        """What a machine kept across its reboot (pstore) joins the incident of
        the crash or verdict of the boot before this one, as ``pstore-NAME``."""
        task = rec.incident
        if task is not None and not task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), 60)
        incident = next((i for i in reversed(self.incidents)
                         if i.instance == rec.name and i.kind != "diagnose"), None)
        if incident is None or incident.boot != rec.counters.boots - 1 or incident.error:
            self.ledger.note(rec, f"pstore held {len(files)} file(s) no incident of this run "
                                  "is waiting for: kept in the workdir only")
            return
        try:
            for name, data in files.items():
                (incident.folder / f"pstore-{name}").write_bytes(data)
        except OSError as exc:
            self.ledger.note(rec, f"pstore: adding to the incident failed ({exc.strerror or exc});"
                                  " the files stay in the workdir")
            return
        incident.files = sorted(p.name for p in incident.folder.iterdir())
        self.ledger.note(rec, f"pstore: {len(files)} file(s) added to the incident "
                              f"{incident.folder.name}")

    async def settle(self) -> None:
        """Wait for incident folders still being written."""
        await self._tasks.settle()

    async def close(self) -> None:
        await self._tasks.cancel()
        if self._symbols_idle is not None:
            self._symbols_idle.cancel()
        await self._end_symbolizer()


def step_output(diagnosis: Diagnosis, ring: ConsoleRing) -> dict[str, str]:
    """The console lines each diagnose step produced: the guest's lines of the
    timeline from the step's mark to the next step's (the last: to now)."""
    titles = [t for t in diagnosis.sections if t in diagnosis.marks]
    ends = [diagnosis.marks[t] for t in titles[1:]] + [ring.next_seq]
    output = {}
    for title, end in zip(titles, ends, strict=True):
        lines, lost = ring.since(diagnosis.marks[title])
        guest = [line for line in lines if line[0] < end and line[1] in CONSOLE_SOURCES]
        text = evidence.console_text(guest)
        head = f"-- console: {len(guest)} line(s) --\n" if guest else \
            "-- console: nothing printed --\n"
        if lost:
            head += f"({lost} line(s) had left the timeline: see console.log)\n"
        output[title] = head + text
    return output


def _facts(rec: InstanceRecord, first: GuestText, incident: Incident, report: Report | None,
           window: ReportWindow | None) -> dict[str, Any]:
    facts: dict[str, Any] = {"state": rec.state.value, "folder": incident.folder.name}
    if first != incident.title:
        facts["first_title"] = str(first)  # the first line's, before the report was read
    if report is not None:
        facts["report"] = {"type": report.kind, "corrupted": report.reason or False,
                           "alt": [str(a) for a in report.alts]}
        if report.guilty:
            facts["report"]["guilty_file"] = report.guilty
    if window is not None:
        facts["report_window"] = {"lines_read": window.lines, "lines_not_read": window.left,
                                  "lines_lost": window.lost}
    return facts
