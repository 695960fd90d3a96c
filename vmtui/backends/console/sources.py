"""Console sources beside the VM's own: a local command, a serial device.

``console: {command: "adb -s SERIAL shell dmesg -w"}`` in a pool config runs
the command for each instance from the start of its boot ({name} and {index}
filled in); ``console: {serial: /dev/ttyUSB0, baud: 115200}`` reads a serial
device (with serialx, chosen by bench/serial_flood.py). Their output joins the
console stream tagged ``command`` or ``serial``, is checked for crashes like
the console, and reaches the log on disk. A command that exits, or a device
that goes away, is started or opened again after a pause that doubles up to
``max_backoff`` (and starts over once a run lasted a minute). ``ssh:``
(ssh_source.py) joins once the instance is up.

Each open source is also an input (attach mode, debugger sequences): the
serial device takes bytes and a BREAK (a real line BREAK, or ``break_bytes``
where a console server or QEMU's mux stands between), the command its stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import termios
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import serialx

from vmtui.backends.config.schema import fill
from vmtui.backends.vm.errors import StateError
from vmtui.backends.vm.merger import OutputMerger

if TYPE_CHECKING:
    from vmtui.backends.config.pool import ConsoleConfig
    from vmtui.backends.vm.tasks import Background

SOURCE = "command"
SERIAL = "serial"
STEADY = 60.0  # a run this long resets the backoff


class Input:
    """Where typed bytes go into one open source, and how it takes a BREAK."""

    def __init__(self, writer: Any, break_bytes: bytes, line_break: bool) -> None:
        self.writer = writer  # an asyncio StreamWriter (serial) or a process's stdin
        self.break_bytes = break_bytes
        self.line_break = line_break  # a real serial line: tcsendbreak works

    @property
    def can_break(self) -> bool:
        return bool(self.break_bytes) or self.line_break

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send_break(self) -> None:
        if self.break_bytes:
            await self.write(self.break_bytes)
            return
        fd = self.writer.transport.serial.fileno()
        await asyncio.to_thread(termios.tcsendbreak, fd, 0)  # ~0.25 s of BREAK


def command_argv(cfg: ConsoleConfig, name: str, index: int) -> list[str]:
    words = shlex.split(cfg.command)
    return [fill(w, name, index) for w in words]


Once = Callable[[], Awaitable[str]]  # one run of a source: why it ended


async def keep_running(once: Once, again: str, note: Callable[[str], None],
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
                      backoff: float, max_backoff: float,
                      inputs: dict[str, Input] | None = None, break_bytes: bytes = b"") -> None:
    """Run ``argv`` as a console source until cancelled, restarting it when it exits;
    while it runs, ``inputs[SOURCE]`` writes to its stdin."""
    inputs = {} if inputs is None else inputs

    async def once() -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            note(f"console command {argv[0]!r} cannot start: {exc.strerror}")
            return "console command ended (status None)"
        assert proc.stdout is not None
        inputs[SOURCE] = mine = Input(proc.stdin, break_bytes, line_break=False)
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
            _drop(inputs, SOURCE, mine)
            output.eof(SOURCE)

    await keep_running(once, "starting it again", note, backoff, max_backoff)


def _drop(inputs: dict[str, Input], source: str, mine: Input) -> None:
    """Forget ``mine`` as the input of ``source`` (not a next boot's own)."""
    if inputs.get(source) is mine:
        del inputs[source]


async def run_serial(path: str, baud: int, output: OutputMerger, note: Callable[[str], None],
                     backoff: float, max_backoff: float,
                     inputs: dict[str, Input] | None = None, break_bytes: bytes = b"") -> None:
    """Read the serial device ``path`` as a console source until cancelled; while
    it is open, ``inputs[SERIAL]`` writes to it."""
    inputs = {} if inputs is None else inputs

    async def once() -> str:
        try:
            reader, writer = await serialx.open_serial_connection(path, baudrate=baud)
        except (OSError, serialx.SerialException) as exc:
            return f"serial console {path}: cannot open it: {exc}"
        inputs[SERIAL] = mine = Input(writer, break_bytes, line_break=True)
        try:
            while chunk := await reader.read(65536):
                output.feed(SERIAL, chunk)
        except (OSError, serialx.SerialException) as exc:
            return f"serial console {path}: read failed: {exc}"
        finally:
            _drop(inputs, SERIAL, mine)
            output.eof(SERIAL)
            writer.close()
        return f"serial console {path}: it closed"

    await keep_running(once, "trying again", note, backoff, max_backoff)


def start(name: str, index: int, output: OutputMerger, cfg: ConsoleConfig,
          inputs: dict[str, Input], tasks: Background,
          note: Callable[[str], None]) -> list[asyncio.Task[None]]:
    """Start the pool's local console sources of instance ``name`` as it begins
    to boot; the tasks, for the caller to cancel when the boot ends. While open,
    each source is in ``inputs`` by its tag."""
    brk = cfg.break_bytes.encode("latin-1")
    started = []
    if cfg.command:
        started.append(tasks.spawn(run_command(
            command_argv(cfg, name, index), output, note,
            cfg.backoff, cfg.max_backoff, inputs, brk), "console-command"))
    if cfg.serial:
        started.append(tasks.spawn(run_serial(
            fill(cfg.serial, name, index), cfg.baud, output,
            note, cfg.backoff, cfg.max_backoff, inputs, brk), "console-serial"))
    return started


def console_input(inputs: dict[str, Input], name: str, *, needs_break: bool = False) -> Input:
    """The open source typed bytes go to: the serial device first, else the command.

    Raises:
        StateError: no open source of instance ``name`` takes input (or a BREAK,
            with ``needs_break``).
    """
    for source in (SERIAL, SOURCE):
        found: Input | None = inputs.get(source)
        if found is not None and (found.can_break or not needs_break):
            return found
    what = "a BREAK (a serial console, or console.break_bytes)" if needs_break else "input"
    raise StateError(f"{name}: no console source that takes {what} is open")


def can_break(inputs: dict[str, Input]) -> bool:
    """Whether an open source takes a BREAK (for SysRq)."""
    return any(found.can_break for found in inputs.values())


async def sysrq(inputs: dict[str, Input], name: str, letter: str) -> str:
    """SysRq ``letter`` as a real board takes it: a BREAK, then the letter."""
    found = console_input(inputs, name, needs_break=True)
    await found.send_break()
    await asyncio.sleep(0.5)  # the kernel waits 5 s for the letter; a slow guest needs time
    await found.write(letter.encode())
    # A BREAK that comes while the last one is still being taken toggles SysRq
    # off again (measured: t, w, l sent back to back gave only t's output).
    await asyncio.sleep(1.0)
    return "break_bytes" if found.break_bytes else "serial BREAK"
