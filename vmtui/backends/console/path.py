"""One instance's console path: sources → merger → ring + log on disk → watch.

The merger writes each source's whole lines to ``console.log`` as they
complete (nothing is lost, whatever the screen keeps; a full disk holds them in
memory until it takes them, see ``disklog``); the same lines, tagged with their source, go
into the instance's bounded ring in batches, and past the watch (the console's
lines through the crash detector; every line of the guest resets the
no-output clock).

What one boot's console owns is one :class:`BootConsole`, made as the boot
begins and taken whole when it ends: nothing of one boot outlives it on the
fleet's record, half taken off. This floor knows no record: it is handed the
ring, the console and a ``note`` to speak through.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmtui.backends.console import sources as consolesrc
from vmtui.backends.console import ssh_source as sshconsole
from vmtui.backends.console.disklog import ConsoleLog
from vmtui.backends.console.ring import ConsoleRing
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.merger import Chunk, OutputMerger, Pacer
from vmtui.backends.vm.tasks import Background

if TYPE_CHECKING:
    from vmtui.backends.config.pool import ConsoleConfig
    from vmtui.backends.vm.capabilities import GuestShell

OnLines = Callable[[str, list[str]], None]  # (source, texts) of one run of lines
Note = Callable[[str], None]  # a line from vmtui itself about this instance


@dataclass(eq=False)
class BootConsole:
    """Everything one boot's console owns; replaced whole at each boot."""

    merger: OutputMerger  # what the VM and the sources write to
    log: ConsoleLog  # console.log on disk
    sources: list[asyncio.Task[Any]] = field(default_factory=list)  # beside the VM's own
    inputs: dict[str, consolesrc.Input] = field(default_factory=dict)  # typed bytes, by tag


def open_console(path: Path, name: str, boot: int, pacer: Pacer,
                 wallclock: Callable[[], float], trouble: Note) -> BootConsole:
    """Open the log at ``path`` (appending: a restart goes on in the same file,
    after a line that marks boot number ``boot``) and a fresh merger writing to it.
    ``trouble`` hears when the log fails (why) and works again ("").

    Raises:
        VMError: the workdir or the log cannot be created.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Only its owner reads what the guest printed (keys, addresses, crash details).
        log = ConsoleLog(path, trouble, wallclock=wallclock)
    except OSError as exc:
        raise VMError(f"{name}: cannot open {path}: {exc.strerror or exc}") from exc
    # On disk only (the screen shows the state): where each boot's lines begin,
    # whatever the last one left unfinished.
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wallclock()))
    log.write(f"[vmtui] boot {boot} of {name} at {stamp}\n".encode())
    return BootConsole(OutputMerger(tee=log, pacer=pacer), log)


async def consume(merger: OutputMerger, ring: ConsoleRing, wallclock: Callable[[], float],
                  on_lines: OnLines) -> None:
    """Move ``merger``'s lines into ``ring`` until the merger closes."""
    while (batch := await merger.get_batch()) is not None:
        now = wallclock()
        # Runs of lines from one source (a read error is a run of its own).
        for (source, error), run in itertools.groupby(batch, key=itemgetter(0, 2)):
            _store(ring, source, error, list(run), now, on_lines)
        await asyncio.sleep(0)  # a flood must not starve the screen


def _store(ring: ConsoleRing, source: str, error: BaseException | None,
           chunks: list[Chunk], now: float, on_lines: OnLines) -> None:
    if error is not None:
        ring.append("vmtui", f"[vmtui] reading {source} failed: {error}", now)
        return
    # Lines hold no newline: decoding them joined is decoding each, at C speed.
    raw = b"\n".join(map(itemgetter(1), chunks))
    texts = raw.decode("utf-8", "replace").split("\n")
    ring.bytes_in += len(raw) + 1  # each line's newline, the last one's too
    ring.extend(source, texts, now)
    on_lines(source, texts)


def note(boot: BootConsole | None, ring: ConsoleRing, text: str, now: float) -> None:
    """A line from vmtui itself in the timeline and (while a boot has one) the log on disk."""
    ring.append("vmtui", text, now)
    if boot is not None:
        boot.log.write(f"[vmtui] {text}\n".encode())


def partial(boot: BootConsole | None) -> str:
    """The console's unfinished last line (a shell prompt), decoded."""
    return boot.merger.partial("console").decode("utf-8", "replace") if boot else ""


def start_sources(boot: BootConsole, cfg: ConsoleConfig, name: str, index: int,
                  tasks: Background, note: Note) -> None:
    """Start the pool's local console sources as a boot begins (they end at
    :func:`stop_sources`)."""
    boot.sources += consolesrc.start(name, index, boot.merger, cfg, boot.inputs, tasks, note)


def start_ssh(boot: BootConsole, guest: GuestShell | None, cfg: ConsoleConfig,
              replayed: sshconsole.Replayed, tasks: Background, note: Note) -> None:
    """Start the ssh console once the instance is up (it ends at :func:`stop_sources`)."""
    task = sshconsole.start(guest, boot.merger, cfg, replayed, tasks, note)
    if task is not None:
        boot.sources.append(task)


async def stop_sources(boot: BootConsole) -> None:
    """End ``boot``'s console sources (its instance is going away)."""
    sources, boot.sources = boot.sources, []
    boot.inputs.clear()  # nothing types into a source that is going
    for task in sources:
        task.cancel()
    await asyncio.gather(*sources, return_exceptions=True)


async def close(boot: BootConsole, ring: ConsoleRing) -> None:
    """Let a detached boot's merger hear its last sources, then close it and its log."""
    await boot.merger.wait_sources(timeout=2)
    await boot.merger.close()
    boot.log.close()
    if boot.log.error:
        ring.append("vmtui", f"console.log closed with lines it could not take "
                             f"({boot.log.error})", time.time())


def save_lines(workdir: Path, name: str, lines: Iterable[str]) -> Path:
    """Write ``lines`` (a console as shown) to a new file in ``workdir``.

    Raises:
        VMError: the file could not be written (disk full, read-only).
    """
    path = workdir / time.strftime("console-saved-%Y%m%d-%H%M%S.txt")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as out:
            out.writelines(line + "\n" for line in lines)
    except OSError as exc:
        raise VMError(f"{name}: cannot save the console to {path}: "
                      f"{exc.strerror or exc}") from exc
    return path
