"""What the fleet watches for: crashes, silence, lost VMs; and the evidence it keeps.

syzkaller's monitor, for every instance: each console line goes past a crash
detector; a clock declares a silent VM hung after ``no_output_timeout``; a VM
process that dies unasked is a lost connection. Each of these, and each
diagnose, writes an incident folder. Hold pins an instance and opens QEMU's
gdb stub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING

from vmtui.backends import consolesrc, evidence
from vmtui.backends.base import (
    DebugStub,
    Diagnosable,
    Infoer,
    Instance,
    InstanceState,
    StateError,
    VMError,
)
from vmtui.backends.diagnose import (
    DESTRUCTIVE_SYSRQ,
    SEQUENCES,
    Diagnosis,
    send_sequence,
    sysrq_keys,
)
from vmtui.backends.evidence import Incident
from vmtui.backends.guestops import GuestError
from vmtui.backends.inert import GuestText
from vmtui.backends.monitor import (
    CONSOLE_SOURCES,
    LOST_CONNECTION,
    NO_OUTPUT,
    CrashDetector,
    rest_of_report,
)
from vmtui.backends.records import LIVE, WATCHED, require
from vmtui.backends.report import Report, find_reports
from vmtui.backends.tasks import Background

if TYPE_CHECKING:
    from vmtui.backends.fleet import Fleet, InstanceRecord

log = logging.getLogger(__name__)

# What "diagnose now" runs for each guest OS.
DEFAULT_DIAGNOSE = {
    "linux": ("sysrq-t", "sysrq-w", "sysrq-l", "registers"),
    "freebsd": ("ddb", "registers"),
    "openbsd": ("ddb", "registers"),
}
PANIC_TITLE = GuestText("kernel panic (pvpanic)")
GUEST_SOURCES = frozenset({"console", "command", "serial", "ssh", "stdout", "stderr"})


class Watch:
    """Crash detection, verdict clocks, incidents, diagnose and hold for a fleet."""

    def __init__(self, fleet: Fleet, *, after_seconds: float = 3.0) -> None:
        self.fleet = fleet
        self.detector = CrashDetector(fleet.config.pool.os)
        self.timeout = fleet.config.pool.no_output_timeout
        self.after_seconds = after_seconds
        self.incidents: list[Incident] = []
        # Incident writers; each records its own failure on its incident.
        self._tasks = Background(f"{fleet.config.pool.name}:incidents")

    # -- detection -------------------------------------------------------------

    def on_lines(self, rec: InstanceRecord, source: str, texts: list[str]) -> None:
        """Every line of ``rec`` passes here, in batches of one source (from the
        fleet's consumer). Output from the guest (its console, a workload's
        stdout and stderr) proves it alive; the console's is checked for crashes."""
        if source in GUEST_SOURCES:
            rec.last_output = self.fleet.clock()
        if source not in CONSOLE_SOURCES:
            return
        for index, title in self.detector.check_lines(texts):
            if rec.state in WATCHED:
                # The batch is the newest lines of the ring: the report starts here.
                self.crash(rec, title, "crash", rec.ring.next_seq - len(texts) + index)
            elif rec.state is InstanceState.CRASHED and rec.title == PANIC_TITLE:
                # The console names what pvpanic only signalled; its report starts here.
                rec.title = rec.error = title
                rec.crash_seq = rec.ring.next_seq - len(texts) + index

    def on_panic_event(self, rec: InstanceRecord) -> None:
        if rec.state in WATCHED:
            self.crash(rec, PANIC_TITLE, "crash")

    def on_lost(self, rec: InstanceRecord) -> None:
        self._file(rec, "verdict", LOST_CONNECTION, rec.ring.next_seq)

    def crash(self, rec: InstanceRecord, title: GuestText, kind: str,
              seq: int | None = None) -> None:
        """Mark ``rec`` crashed with ``title`` and collect the evidence; the
        report starts at ring line ``seq`` (default: what comes next)."""
        self.fleet.set_state(rec, InstanceState.CRASHED, title)
        log.warning("%s: %s", rec.name, title)
        self._file(rec, kind, title, rec.ring.next_seq if seq is None else seq)

    def _file(self, rec: InstanceRecord, kind: str, title: GuestText, seq: int) -> None:
        """A crash or verdict of ``rec``: its title, its count, its evidence."""
        rec.title = title
        rec.crash_seq = seq
        rec.counters.crashes += 1
        self._collect(rec, kind, title)

    def _collect(self, rec: InstanceRecord, kind: str, title: GuestText,
                 diagnosis: Diagnosis | None = None) -> None:
        task = self._tasks.spawn(self.write_incident(rec, kind, title, diagnosis),
                                 f"incident:{rec.name}")
        if kind != "diagnose":
            rec.incident = task

    def hung_in(self, rec: InstanceRecord, now: float) -> float | None:
        """Seconds left before a silent ``rec`` is declared hung (None: no clock)."""
        if self.timeout <= 0 or rec.state is not InstanceState.RUNNING:
            return None  # a paused VM is silent on purpose: its clock waits
        return max(0.0, self.timeout - (now - rec.last_output))

    def tick(self) -> None:
        """Check the no-output clocks (the fleet calls this every second)."""
        now = self.fleet.clock()
        for rec in self.fleet.records.values():
            self._follow_process(rec)
            left = self.hung_in(rec, now)
            if left is not None and left <= 0:
                self.crash(rec, NO_OUTPUT, "verdict")

    def _follow_process(self, rec: InstanceRecord) -> None:
        """A VM process stopped by a signal or a debugger shows paused (its guest
        is silent, not hung) and running again once it continues."""
        inst = rec.instance
        if inst is None:
            return
        if rec.state is InstanceState.RUNNING and inst.frozen():
            rec.frozen = True
            self.fleet.set_state(rec, InstanceState.PAUSED, "the VM process is stopped "
                                 "(SIGSTOP or a debugger); the guest is not hung")
            self.fleet.note(rec, rec.error)
        elif rec.frozen and not inst.frozen():
            rec.frozen = False
            if rec.state is InstanceState.PAUSED:
                self.fleet.set_state(rec, InstanceState.RUNNING)
                self.fleet.note(rec, "the VM process continues")

    async def run_clock(self, period: float = 1.0) -> None:
        while True:
            await asyncio.sleep(period)
            self.tick()

    # -- evidence ----------------------------------------------------------------

    async def write_incident(self, rec: InstanceRecord, kind: str, title: GuestText,
                             diagnosis: Diagnosis | None = None) -> Incident:
        """Write an incident folder for ``rec``; returns once it is complete.

        A folder that cannot be written (disk full, read-only) leaves an
        incident whose ``error`` says why, and a note on the instance.
        """
        when = self.fleet.wallclock()
        incident = Incident(rec.name, kind, GuestText(title), when,
                            rec.workdir / "incidents", boot=rec.counters.boots)
        self.incidents.append(incident)
        try:
            await self._write(rec, incident, diagnosis)
        except (OSError, ValueError) as exc:
            incident.error = f"{type(exc).__name__}: {exc}"
            self.fleet.note(rec, f"writing the incident {incident.title!r} failed: "
                                 f"{incident.error}")
            log.error("%s: writing an incident failed", rec.name, exc_info=exc)
        return incident

    async def _write(self, rec: InstanceRecord, incident: Incident,
                     diagnosis: Diagnosis | None) -> None:
        kind, title = incident.kind, incident.title
        folder = incident.folder = evidence.new_folder(rec.workdir, title, incident.time)
        mark = rec.ring.next_seq
        evidence.write(folder, "console-before.txt",
                       evidence.console_text(rec.ring.since(max(0, mark - 2000))[0]))
        inst = rec.instance
        if kind == "verdict" and title == NO_OUTPUT and rec.state is not InstanceState.PAUSED:
            # Silent but running: ask the kernel what it is doing (into console-after).
            try:
                diagnosis = await self.diagnose(rec.name, "diagnose", record=False)
            except VMError as exc:
                diagnosis = Diagnosis("diagnose", {"failed": str(exc)})
        registers = "" if isinstance(inst, Diagnosable) or inst is None else (
            f"not available: the {self.fleet.config.pool.type} VM type does not run the "
            "machine, so it cannot stop its CPUs\n")
        if isinstance(inst, Diagnosable) and not rec.instance_exited():
            try:
                regs = await inst.registers()
                registers = "".join(f"== cpu {cpu} ==\n{text.rstrip()}\n"
                                    for cpu, text in regs.items())
            except VMError as exc:
                registers = f"registers unavailable: {exc}\n"
        info: dict[str, str] = {}
        if isinstance(inst, Infoer):
            try:
                info = await inst.info()
            except VMError as exc:
                info = {"info.txt": f"unavailable: {exc}\n"}
        if kind == "crash":  # the rest of the report, or less when no more can come
            await rest_of_report(rec, incident.time, self.after_seconds)
        else:
            await asyncio.sleep(self.after_seconds)
        report = self._read_report(rec, incident.title) if kind == "crash" else None
        evidence.write(folder, "console-after.txt",
                       evidence.console_text(rec.ring.since(mark)[0]))
        evidence.write(folder, "registers.txt", registers or "the VM was not running\n")
        evidence.write(folder, "diagnosis.txt", diagnosis.text() if diagnosis else "")
        evidence.write_events(folder, rec.events)
        for name, text in info.items():
            evidence.write(folder, name, text)
        evidence.write(folder, "config.yaml", evidence.config_yaml(self.fleet.config))
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(incident.time))
        read = "" if report is None else (
            f"type: {report.kind}\ncorrupted: {report.reason or 'no'}\n"
            + "".join(f"alt: {alt}\n" for alt in report.alts))
        evidence.write(folder, "report.txt",
                       f"title: {rec.title if kind != 'diagnose' else title}\n"
                       f"kind: {kind}\ninstance: {rec.name}\nstate: {rec.state.value}\n"
                       f"time: {stamp}\n{read}")
        incident.title = GuestText(rec.title) if kind == "crash" else title
        if kind != "diagnose":
            self._save_crash(rec, incident, report)
        incident.files = sorted(p.name for p in folder.iterdir())
        incident.complete = True

    def _read_report(self, rec: InstanceRecord, first: GuestText) -> Report | None:
        """Read the report printed since the crash began, and title ``rec`` by it
        (syzkaller's title, from the whole report) unless it was renamed since."""
        lines = [text for _, source, text, _ in rec.ring.since(rec.crash_seq)[0]
                 if source in CONSOLE_SOURCES]
        reports = find_reports("".join(f"{line}\n" for line in lines), self.fleet.config.pool.os)
        if not reports:
            return None
        if rec.title == first:
            if rec.error == first:
                rec.error = reports[0].title
            rec.title = reports[0].title
        return reports[0]

    def _save_crash(self, rec: InstanceRecord, incident: Incident, report: Report | None) -> None:
        """File the crash under its title in the pool's crashes/ (syzkaller's layout);
        the incident links to it."""
        boot_lines = rec.ring.since(rec.boot_seq)[0]
        text = report.text if report is not None else evidence.console_text(
            rec.ring.since(rec.crash_seq)[0], stamps=False)
        seen = self.fleet.crashes.add(
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
            self.fleet.note(rec, f"pstore held {len(files)} file(s) no incident of this run "
                                 "is waiting for: kept in the workdir only")
            return
        try:
            for name, data in files.items():
                (incident.folder / f"pstore-{name}").write_bytes(data)
        except OSError as exc:
            self.fleet.note(rec, f"pstore: adding to the incident failed ({exc.strerror or exc});"
                                 " the files stay in the workdir")
            return
        incident.files = sorted(p.name for p in incident.folder.iterdir())
        self.fleet.note(rec, f"pstore: {len(files)} file(s) added to the incident "
                             f"{incident.folder.name}")

    async def settle(self) -> None:
        """Wait for incident folders still being written."""
        await self._tasks.settle()

    async def close(self) -> None:
        await self._tasks.cancel()

    # -- diagnose ------------------------------------------------------------------

    async def diagnose(self, name: str, action: str, *, via: str = "auto",
                       pace: float | None = None, record: bool = True) -> Diagnosis:
        """Run a diagnose action; its output joins the timeline and an incident.

        ``action``: ``sysrq-X``, ``registers``, ``nmi``, ``ddb`` (the BSD
        debugger sequence) or ``diagnose`` (the OS's default set, skipping what
        the instance cannot do). ``via`` for SysRq: ``keyboard`` (QMP
        send-key), ``serial`` (a BREAK and the letter on the serial console),
        ``proc`` (/proc/sysrq-trigger over SSH), or ``auto``: the first of
        these the instance has.
        """
        fleet = self.fleet
        rec = fleet.records[name]
        inst = require(rec, (*WATCHED, InstanceState.CRASHED), "diagnose", Instance)
        pace = fleet.config.pool.diagnose_pace if pace is None else pace
        result = Diagnosis(action)
        fleet.note(rec, f"diagnose: {action}")
        os_name = fleet.config.pool.os
        steps = [action] if action != "diagnose" else DEFAULT_DIAGNOSE.get(
            os_name, ("registers",))
        for step in steps:
            if step in ("registers", "nmi") and not isinstance(inst, Diagnosable):
                why = (f"{name}: no {step} here: its VM type ({fleet.config.pool.type}) "
                       "does not run the machine, so it cannot stop its CPUs")
                if action != "diagnose":
                    raise StateError(why)
                result.sections[step] = f"not available: {why}"
            elif step.startswith("sysrq-"):
                letter = step.removeprefix("sysrq-")
                sysrq_keys(letter)  # a valid letter, or ValueError
                how = await self._sysrq(rec, inst, letter, via)
                result.sections[f"sysrq {letter}"] = f"sent via {how}"
            elif step == "registers":
                for cpu, text in (await inst.registers()).items():
                    result.sections[f"registers cpu {cpu}"] = text
                    for line in text.rstrip().splitlines():
                        rec.ring.append("vmtui", f"cpu{cpu} {line}", fleet.wallclock())
            elif step == "nmi":
                await inst.inject_nmi()
                result.sections["nmi"] = "injected"
            elif step == "ddb":
                sequence = SEQUENCES.get(os_name)
                if sequence is None:
                    raise StateError(f"{name}: no debugger sequence for {os_name}")
                await send_sequence(lambda data: fleet.write_console(name, data), sequence,
                                    pace)
                result.sections["ddb"] = "\n".join(sequence)
            else:
                raise ValueError(f"unknown diagnose action {step!r}")
        if record:
            self._collect(rec, "diagnose", GuestText(f"diagnose {action}"), result)
        return result

    async def _sysrq(self, rec: InstanceRecord, inst: Instance, letter: str, via: str) -> str:
        """Send SysRq ``letter`` the way ``via`` says; how it went."""
        if via in ("auto", "keyboard") and isinstance(inst, Diagnosable):
            await inst.send_sysrq(letter)
            return "keyboard"
        if via == "serial" or (via == "auto" and consolesrc.can_break(rec)):
            return await consolesrc.sysrq(rec, letter)
        if via in ("auto", "proc"):
            command = f"echo {letter} > /proc/sysrq-trigger"
            if letter not in DESTRUCTIVE_SYSRQ:
                await self.fleet.guest(rec.name).run(command)
                return "proc"
            # The machine goes down (or away) with the connection: no answer comes.
            with contextlib.suppress(GuestError):
                await self.fleet.guest(rec.name).run(command, timeout=5)
            return "proc"
        raise StateError(f"{rec.name}: cannot send SysRq via {via}: its VM type has no "
                         "emulated keyboard")

    # -- hold ----------------------------------------------------------------------

    async def hold(self, name: str) -> str:
        """Pin ``name`` (no restart, start or kill touches it) and open a gdb stub;
        return the gdb command that attaches."""
        rec = self.fleet.records[name]
        stub: DebugStub = require(rec, LIVE, "hold", DebugStub)
        rec.gdb = await stub.open_debug_stub()
        rec.held = True
        self.fleet.note(rec, f"held; gdb stub open: {rec.gdb}")
        return rec.gdb

    async def release(self, name: str) -> None:
        """Unpin ``name`` and close its gdb stub."""
        rec = self.fleet.records[name]
        inst = rec.instance
        rec.held = False
        rec.gdb = ""
        if isinstance(inst, DebugStub) and not rec.instance_exited():
            try:
                await inst.close_debug_stub()
            except VMError as exc:
                self.fleet.note(rec, f"closing the gdb stub failed: {exc}")
        self.fleet.note(rec, "released")
