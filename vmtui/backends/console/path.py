"""One instance's console path: sources → merger → ring + log on disk → watch.

The merger writes each source's whole lines to ``console.log`` as they
complete (nothing is lost, whatever the screen keeps; a full disk holds them in
memory until it takes them, see ``disklog``); the same lines, tagged with their source, go
into the record's bounded ring in batches, and past the watch (the console's
lines through the crash detector; every line of the guest resets the
no-output clock).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable
from operator import itemgetter
from pathlib import Path

from vmtui.backends.console import sources as consolesrc
from vmtui.backends.console.disklog import ConsoleLog
from vmtui.backends.fleet.records import InstanceRecord
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.merger import Chunk, OutputMerger, Pacer

OnLines = Callable[[InstanceRecord, str, list[str]], None]


def open_console(rec: InstanceRecord, pacer: Pacer, wallclock: Callable[[], float],
                 ) -> OutputMerger:
    """Open ``rec``'s log on disk (appending: a restart goes on in the same
    file, after a line that marks the boot) and a fresh merger writing to it.

    Raises:
        VMError: the workdir or the log cannot be created.
    """
    try:
        rec.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Only its owner reads what the guest printed (keys, addresses, crash details).
        rec.log_file = ConsoleLog(rec.console_log, lambda text: _trouble(rec, text, wallclock))
    except OSError as exc:
        raise VMError(f"{rec.name}: cannot open {rec.console_log}: "
                      f"{exc.strerror or exc}") from exc
    # On disk only (the screen shows the state): where each boot's lines begin,
    # whatever the last one left unfinished.
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wallclock()))
    rec.log_file.write(f"[vmtui] boot {rec.counters.boots} of {rec.name} at {stamp}\n".encode())
    rec.merger = OutputMerger(tee=rec.log_file, pacer=pacer)
    return rec.merger


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


async def consume(rec: InstanceRecord, merger: OutputMerger, wallclock: Callable[[], float],
                  on_lines: OnLines) -> None:
    """Move ``merger``'s lines into ``rec``'s ring until the merger closes."""
    while (batch := await merger.get_batch()) is not None:
        now = wallclock()
        # Runs of lines from one source (a read error is a run of its own).
        for (source, error), run in itertools.groupby(batch, key=itemgetter(0, 2)):
            _store(rec, source, error, list(run), now, on_lines)
        await asyncio.sleep(0)  # a flood must not starve the screen


def _store(rec: InstanceRecord, source: str, error: BaseException | None,
           chunks: list[Chunk], now: float, on_lines: OnLines) -> None:
    if error is not None:
        rec.ring.append("vmtui", f"[vmtui] reading {source} failed: {error}", now)
        return
    # Lines hold no newline: decoding them joined is decoding each, at C speed.
    texts = b"\n".join(map(itemgetter(1), chunks)).decode("utf-8", "replace").split("\n")
    rec.ring.extend(source, texts, now)
    on_lines(rec, source, texts)


def note(rec: InstanceRecord, text: str, now: float) -> None:
    """A line from vmtui itself in the timeline and the log on disk."""
    rec.ring.append("vmtui", text, now)
    if rec.log_file is not None:
        rec.log_file.write(f"[vmtui] {text}\n".encode())


def partial(rec: InstanceRecord) -> str:
    """The console's unfinished last line (a shell prompt), decoded."""
    merger = rec.merger
    return merger.partial("console").decode("utf-8", "replace") if merger else ""


async def end_boot(rec: InstanceRecord, now: float) -> None:
    """End ``rec``'s boot: its console sources, its instance, its merger and log.

    Each is taken off the record before the first await: a restart may install
    the next boot's while this closes them, and two ends of one boot may race
    (the VM's exit seen while a kill is under way).
    """
    inst, rec.instance = rec.instance, None
    merger, rec.merger = rec.merger, None
    log_file, rec.log_file = rec.log_file, None
    if rec.started_at is not None:
        rec.counters.up_seconds += now - rec.started_at
        rec.started_at = None
    await consolesrc.stop(rec)
    if inst is not None:
        await inst.close()
    await _close_console(rec, merger, log_file)


async def _close_console(rec: InstanceRecord, merger: OutputMerger | None,
                         log_file: ConsoleLog | None) -> None:
    """Let a detached merger's sources finish, then close it and its log."""
    if merger is not None:
        await merger.wait_sources(timeout=2)
        await merger.close()
    if log_file is not None:
        log_file.close()
        if log_file.error:
            rec.ring.append("vmtui", f"console.log closed with lines it could not take "
                                     f"({log_file.error})", time.time())


def save_lines(rec: InstanceRecord, lines: Iterable[str]) -> Path:
    """Write ``lines`` (a console as shown) to a new file in ``rec``'s workdir.

    Raises:
        VMError: the file could not be written (disk full, read-only).
    """
    path = rec.workdir / time.strftime("console-saved-%Y%m%d-%H%M%S.txt")
    try:
        rec.workdir.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as out:
            out.writelines(line + "\n" for line in lines)
    except OSError as exc:
        raise VMError(f"{rec.name}: cannot save the console to {path}: "
                      f"{exc.strerror or exc}") from exc
    return path
