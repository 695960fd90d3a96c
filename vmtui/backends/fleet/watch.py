"""What the fleet watches for: crashes, silence, lost VMs; diagnose and hold.

syzkaller's monitor, for every instance: each console line goes past a crash
detector; a clock declares a silent VM hung after ``no_output_timeout``; a VM
process that dies unasked is a lost connection. Each of these, and each
diagnose, writes an incident folder (fleet/incidents.py). Hold pins an
instance and opens QEMU's gdb stub.

The watch is handed the fleet's :class:`Ledger` (records, clocks, state, notes),
the config and the pool's crash store, never the Fleet itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from vmtui.backends.config.pool import Config
from vmtui.backends.console import sources as consolesrc
from vmtui.backends.console.ring import TEXT
from vmtui.backends.fleet.incidents import IncidentWriter
from vmtui.backends.fleet.ledger import Ledger
from vmtui.backends.fleet.records import InstanceRecord, require
from vmtui.backends.inert import GuestText
from vmtui.backends.monitor.crashes import CrashStore
from vmtui.backends.monitor.detector import (
    CONSOLE_SOURCES,
    LOST_CONNECTION,
    NO_OUTPUT,
    CrashDetector,
)
from vmtui.backends.monitor.evidence import Incident
from vmtui.backends.ssh.session import GuestError
from vmtui.backends.symbols import kaslr
from vmtui.backends.symbols.symtab import SymbolsError
from vmtui.backends.vm.capabilities import DebugStub, Diagnosable
from vmtui.backends.vm.contract import Instance
from vmtui.backends.vm.diagnose import (
    DESTRUCTIVE_SYSRQ,
    SEQUENCES,
    Diagnosis,
    send_sequence,
    sysrq_keys,
)
from vmtui.backends.vm.errors import StateError, VMError
from vmtui.backends.vm.state import LIVE, WATCHED, InstanceState

log = logging.getLogger(__name__)

# What "diagnose now" runs for each guest OS.
DEFAULT_DIAGNOSE = {
    "linux": ("sysrq-t", "sysrq-w", "sysrq-l", "registers"),
    "freebsd": ("ddb", "registers"),
    "openbsd": ("ddb", "registers"),
}
DIAGNOSE_ACTIONS = ("diagnose", "registers", "nmi", "ddb", "sysrq-X")
PANIC_TITLE = GuestText("kernel panic (pvpanic)")
# Between diagnose steps: the guest's answer to one ends when its console has
# been quiet this long (at most OUTPUT_WAIT seconds), so the next step's lines
# are its own.
QUIET = 0.3
OUTPUT_WAIT = 3.0
GUEST_SOURCES = frozenset({"console", "command", "serial", "ssh", "stdout", "stderr"})


class Watch:
    """Crash detection, verdict clocks, incidents, diagnose and hold for a fleet.

    Args:
        ledger: the fleet's records, clocks and state changes.
        config: the pool's config (OS, timeouts, diagnose pace).
        crashes: the pool's unique crashes, where each crash is filed.
        after_seconds: how long a crash's report and a verdict's console are waited for.
    """

    def __init__(self, ledger: Ledger, config: Config, crashes: CrashStore, *,
                 after_seconds: float = 3.0) -> None:
        self.ledger = ledger
        self.config = config
        self.detector = CrashDetector(config.pool.os)
        self.timeout = config.pool.no_output_timeout
        self.writer = IncidentWriter(ledger, config, crashes, self.diagnose, after_seconds)

    # -- detection -------------------------------------------------------------

    def on_lines(self, rec: InstanceRecord, source: str, texts: list[str]) -> None:
        """Every line of ``rec`` passes here, in batches of one source (from the
        fleet's consumer). Output from the guest (its console, a workload's
        stdout and stderr) proves it alive; the console's is checked for crashes."""
        if source in GUEST_SOURCES:
            rec.last_output = self.ledger.clock()
        if source not in CONSOLE_SOURCES or not (
                rec.state in WATCHED
                or (rec.state is InstanceState.CRASHED and rec.title == PANIC_TITLE)):
            return  # no crash to find (the flood after one, say): no lines to check
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
        self.ledger.set_state(rec, InstanceState.CRASHED, title)
        log.warning("%s: %s", rec.name, title)
        self._file(rec, kind, title, rec.ring.next_seq if seq is None else seq)

    def stuck(self, rec: InstanceRecord, title: GuestText, samples: Diagnosis) -> None:
        """The stuck-vCPU verdict (fleet/stuck.py): ``samples`` join the incident."""
        if rec.state is not InstanceState.RUNNING:
            return
        self.ledger.set_state(rec, InstanceState.CRASHED, title)
        log.warning("%s: %s", rec.name, title)
        self._file(rec, "verdict", title, rec.ring.next_seq, samples)

    def _file(self, rec: InstanceRecord, kind: str, title: GuestText, seq: int,
              diagnosis: Diagnosis | None = None) -> None:
        """A crash or verdict of ``rec``: its title, its count, its evidence."""
        rec.title = title
        rec.crash_seq = seq
        rec.counters.crashes += 1
        self._collect(rec, kind, title, diagnosis)

    def _collect(self, rec: InstanceRecord, kind: str, title: GuestText,
                 diagnosis: Diagnosis | None = None) -> None:
        self.writer.collect(rec, kind, title, diagnosis)

    def hung_in(self, rec: InstanceRecord, now: float) -> float | None:
        """Seconds left before a silent ``rec`` is declared hung (None: no clock)."""
        if self.timeout <= 0 or rec.state is not InstanceState.RUNNING:
            return None  # a paused VM is silent on purpose: its clock waits
        return max(0.0, self.timeout - (now - rec.last_output))

    def tick(self) -> None:
        """Check the no-output clocks (the fleet calls this every second)."""
        now = self.ledger.clock()
        for rec in self.ledger.records.values():
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
            self.ledger.set_state(rec, InstanceState.PAUSED, "the VM process is stopped "
                                  "(SIGSTOP or a debugger); the guest is not hung")
            self.ledger.note(rec, rec.error)
        elif rec.frozen and not inst.frozen():
            rec.frozen = False
            if rec.state is InstanceState.PAUSED:
                self.ledger.set_state(rec, InstanceState.RUNNING)
                self.ledger.note(rec, "the VM process continues")

    async def run_clock(self, period: float = 1.0) -> None:
        while True:
            await asyncio.sleep(period)
            self.tick()

    # -- evidence (backends/incidents.py writes it) ---------------------------------

    @property
    def incidents(self) -> list[Incident]:
        return self.writer.incidents

    @property
    def after_seconds(self) -> float:
        """How long a crash's report and a verdict's console are waited for."""
        return self.writer.after_seconds

    @after_seconds.setter
    def after_seconds(self, seconds: float) -> None:
        self.writer.after_seconds = seconds

    async def attach_leftovers(self, rec: InstanceRecord, files: dict[str, bytes]) -> None:
        """What a machine kept across its reboot (pstore) joins its last incident."""
        await self.writer.attach_leftovers(rec, files)

    async def settle(self) -> None:
        """Wait for incident folders still being written."""
        await self.writer.settle()

    async def close(self) -> None:
        await self.writer.close()

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
        check_diagnose_action(action)  # before it is written to the console as a note
        ledger, pool = self.ledger, self.config.pool
        rec = ledger.record(name)
        inst = require(rec, (*WATCHED, InstanceState.CRASHED), "diagnose", Instance)
        pace = pool.diagnose_pace if pace is None else pace
        result = Diagnosis(action)
        ledger.note(rec, f"diagnose: {action}")
        os_name = pool.os
        steps = [action] if action != "diagnose" else DEFAULT_DIAGNOSE.get(
            os_name, ("registers",))
        for number, step in enumerate(steps):
            if number:
                await self._quiet(rec)
            section = f"sysrq {step.removeprefix('sysrq-')}" if step.startswith("sysrq-") \
                else step
            result.marks[section] = rec.ring.next_seq
            if step in ("registers", "nmi") and not isinstance(inst, Diagnosable):
                why = (f"{name}: no {step} here: its VM type ({pool.type}) "
                       "does not run the machine, so it cannot stop its CPUs")
                if action != "diagnose":
                    raise StateError(why)
                result.sections[step] = f"not available: {why}"
            elif step.startswith("sysrq-"):
                letter = step.removeprefix("sysrq-")
                sysrq_keys(letter)  # a valid letter, or ValueError
                how = await self._sysrq(rec, inst, letter, via)
                result.sections[section] = f"sent via {how}"
            elif step == "registers":
                for cpu, text in (await inst.registers()).items():
                    result.sections[f"registers cpu {cpu}"] = text
                    result.marks[f"registers cpu {cpu}"] = rec.ring.next_seq
                    for line in text.rstrip().splitlines():
                        rec.ring.append("vmtui", f"cpu{cpu} {line}", ledger.wallclock())
            elif step == "nmi":
                await inst.inject_nmi()
                result.sections["nmi"] = "injected"
            elif step == "ddb":
                sequence = SEQUENCES.get(os_name)
                if sequence is None:
                    raise StateError(f"{name}: no debugger sequence for {os_name}")
                await send_sequence(lambda data: ledger.write_console(name, data), sequence,
                                    pace)
                result.sections["ddb"] = "\n".join(sequence)
            else:
                raise ValueError(f"unknown diagnose action {step!r}")
        if record:
            self._collect(rec, "diagnose", GuestText(f"diagnose {action}"), result)
        return result

    async def _quiet(self, rec: InstanceRecord) -> None:
        """Wait until the guest's console has been quiet for QUIET seconds (at most
        OUTPUT_WAIT): the answer to the step before is then complete."""
        deadline = time.monotonic() + OUTPUT_WAIT
        seen, since = rec.ring.next_seq, time.monotonic()
        while (now := time.monotonic()) < deadline and now - since < QUIET:
            await asyncio.sleep(0.05)
            if rec.ring.next_seq != seen:
                seen, since = rec.ring.next_seq, time.monotonic()

    async def _sysrq(self, rec: InstanceRecord, inst: Instance, letter: str, via: str) -> str:
        """Send SysRq ``letter`` the way ``via`` says; how it went."""
        if via in ("auto", "keyboard") and isinstance(inst, Diagnosable):
            await inst.send_sysrq(letter)
            return "keyboard"
        if via == "serial" or (via == "auto" and consolesrc.can_break(rec.console_inputs())):
            return await consolesrc.sysrq(rec.console_inputs(), rec.name, letter)
        if via in ("auto", "proc"):
            command = f"echo {letter} > /proc/sysrq-trigger"
            if letter not in DESTRUCTIVE_SYSRQ:
                await self.ledger.guest(rec.name).run(command)
                return "proc"
            # The machine goes down (or away) with the connection: no answer comes.
            with contextlib.suppress(GuestError):
                await self.ledger.guest(rec.name).run(command, timeout=5)
            return "proc"
        raise StateError(f"{rec.name}: cannot send SysRq via {via}: its VM type has no "
                         "emulated keyboard")

    # -- hold ----------------------------------------------------------------------

    async def hold(self, name: str) -> str:
        """Pin ``name`` (no restart, start or kill touches it) and open a gdb stub;
        return the gdb command that attaches."""
        rec = self.ledger.record(name)
        stub: DebugStub = require(rec, LIVE, "hold", DebugStub)
        rec.gdb = await self._kernel_gdb(rec, await stub.open_debug_stub())
        rec.held = True
        self.ledger.note(rec, f"held; gdb stub open: {rec.gdb}")
        return rec.gdb

    async def _kernel_gdb(self, rec: InstanceRecord, command: str) -> str:
        """With the pool's vmlinux: ``command`` loading it at the guest's KASLR
        offset, so bt shows file:line. The offset: said by a panic on the console
        of this boot; else, on x86-64, computed by gdb when it attaches (from the
        IDT, which a paused or panicked guest has too); else read from the guest's
        /proc/kallsyms over SSH."""
        vmlinux = self.config.pool.vmlinux
        if vmlinux is None:
            return command
        offset = kaslr.offset_said(line[TEXT] for line in rec.ring.since(rec.boot_seq)[0])
        if offset is not None:
            return kaslr.with_vmlinux(command, vmlinux, offset)
        if self.config.pool.arch == "amd64":
            try:
                return kaslr.with_vmlinux_by_idt(command, vmlinux,
                                                 await asyncio.to_thread(kaslr.idt_anchor, vmlinux))
            except SymbolsError as exc:
                self.ledger.note(rec, f"gdb: {exc}")
        try:
            offset = await asyncio.wait_for(
                kaslr.guest_offset(self.ledger.guest(rec.name), vmlinux), 20)
        except (VMError, SymbolsError, OSError, TimeoutError) as exc:
            self.ledger.note(rec, f"gdb: the KASLR offset is unknown: "
                                  f"{str(exc) or 'SSH did not answer in 20 s'}")
        return kaslr.with_vmlinux(command, vmlinux, offset)

    async def release(self, name: str) -> None:
        """Unpin ``name`` and close its gdb stub."""
        rec = self.ledger.record(name)
        inst = rec.instance
        rec.held = False
        rec.gdb = ""
        if isinstance(inst, DebugStub) and not rec.instance_exited():
            try:
                await inst.close_debug_stub()
            except VMError as exc:
                self.ledger.note(rec, f"closing the gdb stub failed: {exc}")
        self.ledger.note(rec, "released")


def check_diagnose_action(action: str) -> None:
    """Raise ValueError unless ``action`` is one of :data:`DIAGNOSE_ACTIONS`
    (``sysrq-X``: X one ASCII letter or digit); the message names them."""
    letter = action.removeprefix("sysrq-")
    if action in DIAGNOSE_ACTIONS[:-1] or (
            action.startswith("sysrq-") and len(letter) == 1 and letter.isascii()
            and letter.isalnum()):
        return
    raise ValueError(f"unknown diagnose action {action[:40]!r} (one of "
                     f"{', '.join(DIAGNOSE_ACTIONS)})")
