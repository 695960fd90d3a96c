"""A boot's console on its record: opened as the boot begins, taken off whole as it ends.

The console floor (``console/path.py``) knows no record; here the record's
parts meet it: the boot's :class:`BootConsole` hangs on ``rec.console`` while
the boot lasts, and a log on disk that fails shows as the record's fault.
"""

from __future__ import annotations

from collections.abc import Callable

from vmtui.backends.console import path as consoles
from vmtui.backends.console.path import BootConsole
from vmtui.backends.fleet.records import InstanceRecord
from vmtui.backends.vm.merger import Pacer


def open_boot(rec: InstanceRecord, pacer: Pacer, wallclock: Callable[[], float]) -> BootConsole:
    """Open the console of ``rec``'s boot beginning now, and hang it on the record.

    Raises:
        VMError: the workdir or the log cannot be created.
    """
    rec.console = consoles.open_console(
        rec.console_log, rec.name, rec.counters.boots, pacer, wallclock,
        lambda text: _trouble(rec, text, wallclock))
    return rec.console


def _trouble(rec: InstanceRecord, text: str, wallclock: Callable[[], float]) -> None:
    """The log on disk failed (``text`` says why) or works again (``text`` empty)."""
    if text:
        rec.disk_fault = rec.fault = text
        rec.ring.append("vmtui", text, wallclock())
    elif rec.disk_fault:
        if rec.fault == rec.disk_fault:
            rec.fault = ""
        rec.disk_fault = ""
        rec.ring.append("vmtui", "console.log writable again", wallclock())


async def end_boot(rec: InstanceRecord, now: float) -> None:
    """End ``rec``'s boot: its console sources, its instance, its merger and log.

    The instance and the whole console are taken off the record before the
    first await: a restart may install the next boot's while this closes them,
    and two ends of one boot may race (the VM's exit seen while a kill is under
    way); the second finds nothing left to close.
    """
    inst, rec.instance = rec.instance, None
    boot, rec.console = rec.console, None
    if rec.started_at is not None:
        rec.counters.up_seconds += now - rec.started_at
        rec.started_at = None
    if boot is not None:
        await consoles.stop_sources(boot)
    if inst is not None:
        await inst.close()
    if boot is not None:
        await consoles.close(boot, rec.ring)
