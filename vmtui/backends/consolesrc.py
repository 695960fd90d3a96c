"""Console sources beside the VM's own: a local command, a serial device.

``console: {command: "adb -s SERIAL shell dmesg -w"}`` in a pool config runs
the command for each instance once it is up ({name} and {index} filled in);
``console: {serial: /dev/ttyUSB0, baud: 115200}`` reads a serial device (with
serialx, chosen by bench/serial_flood.py). Their output joins the console
stream tagged ``command`` or ``serial``, is checked for crashes like the
console, and reaches the log on disk. A command that exits, or a device that
goes away, is started or opened again after a pause that doubles up to
``max_backoff`` (and starts over once a run lasted a minute).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import serialx

from vmtui.backends.merger import OutputMerger
from vmtui.backends.schema import fill

if TYPE_CHECKING:
    from vmtui.backends.config import ConsoleConfig
    from vmtui.backends.records import InstanceRecord

SOURCE = "command"
SERIAL = "serial"
STEADY = 60.0  # a run this long resets the backoff


def command_argv(cfg: ConsoleConfig, name: str, index: int) -> list[str]:
    words = shlex.split(cfg.command)
    return [fill(w, name, index) for w in words]


Once = Callable[[], Awaitable[str]]  # one run of a source: why it ended


async def _keep_running(once: Once, again: str, note: Callable[[str], None],
                        backoff: float, max_backoff: float) -> None:
    """Run ``once`` until cancelled; after each end, say why and wait a pause that
    doubles up to ``max_backoff`` (back to ``backoff`` after a steady run)."""
    pause = backoff
    while True:
        began = time.monotonic()
        why = await once()
        if time.monotonic() - began >= STEADY:
            pause = backoff
        note(f"{why}; {again} in {pause:g}s")
        await asyncio.sleep(pause)
        pause = min(pause * 2, max_backoff)


async def run_command(argv: list[str], output: OutputMerger, note: Callable[[str], None],
                      backoff: float, max_backoff: float) -> None:
    """Run ``argv`` as a console source until cancelled, restarting it when it exits."""

    async def once() -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            note(f"console command {argv[0]!r} cannot start: {exc.strerror}")
            return "console command ended (status None)"
        assert proc.stdout is not None
        try:
            while chunk := await proc.stdout.read(65536):
                output.feed(SOURCE, chunk)
            return f"console command ended (status {await proc.wait()})"
        except asyncio.CancelledError:
            # The whole group: children of a shell would hold the pipe open.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise
        finally:
            output.eof(SOURCE)

    await _keep_running(once, "starting it again", note, backoff, max_backoff)


async def run_serial(path: str, baud: int, output: OutputMerger, note: Callable[[str], None],
                     backoff: float, max_backoff: float) -> None:
    """Read the serial device ``path`` as a console source until cancelled."""

    async def once() -> str:
        try:
            reader, writer = await serialx.open_serial_connection(path, baudrate=baud)
        except (OSError, serialx.SerialException) as exc:
            return f"serial console {path}: cannot open it: {exc}"
        try:
            while chunk := await reader.read(65536):
                output.feed(SERIAL, chunk)
        except (OSError, serialx.SerialException) as exc:
            return f"serial console {path}: read failed: {exc}"
        finally:
            output.eof(SERIAL)
            writer.close()
        return f"serial console {path}: it closed"

    await _keep_running(once, "trying again", note, backoff, max_backoff)


def start(rec: InstanceRecord, output: OutputMerger, cfg: ConsoleConfig,
          note: Callable[[InstanceRecord, str], None]) -> None:
    """Start the pool's console sources for a booted instance (they end with it)."""
    if cfg.command:
        rec.tasks.spawn(run_command(command_argv(cfg, rec.name, rec.index), output,
                                    lambda text: note(rec, text), cfg.backoff,
                                    cfg.max_backoff), "console-command")
    if cfg.serial:
        rec.tasks.spawn(run_serial(fill(cfg.serial, rec.name, rec.index), cfg.baud, output,
                                   lambda text: note(rec, text), cfg.backoff,
                                   cfg.max_backoff), "console-serial")
