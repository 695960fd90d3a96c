"""Operations inside a guest over SSH (asyncssh): run, copy in, forward a port.

Like syzkaller's Instance.Run/Copy/Forward. A command's stdout and stderr go
into the instance's output stream beside the console, tagged by source, as
they arrive; a command that outlives its timeout, or whose caller is
cancelled, is killed in the guest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from pathlib import Path
from typing import Any

import asyncssh

from vmtui.backends.ssh.target import SSHTarget
from vmtui.backends.vm.capabilities import RunResult
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.merger import OutputMerger

log = logging.getLogger(__name__)


class GuestError(VMError):
    """A guest operation failed (SSH down, copy failed, forward refused)."""


class CommandTimeout(GuestError):
    """A command did not finish in time and was killed in the guest."""


class GuestSession:
    """One SSH connection to a guest, made on first use and remade if lost
    (the contract's :class:`~vmtui.backends.vm.capabilities.GuestShell`)."""

    def __init__(self, name: str, target: SSHTarget, output: OutputMerger,
                 copy_dir: str = "/tmp") -> None:
        self.name = name
        self.target = target
        self.output = output
        self.copy_dir = copy_dir  # where copy_in puts a file given no remote path
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()
        self._runs = 0
        self._listeners: list[Any] = []

    async def connection(self, timeout: float = 10.0) -> asyncssh.SSHClientConnection:
        async with self._lock:
            conn = self._conn
            if conn is None or conn.is_closed():
                try:
                    conn = await self.target.connect(timeout=timeout)
                except (OSError, asyncssh.Error, TimeoutError) as exc:
                    raise GuestError(f"{self.name}: SSH to {self.target.host}:"
                                     f"{self.target.port} failed: {exc}") from exc
                self._conn = conn
            return conn

    async def run(self, command: str, timeout: float | None = 60.0,
                  keep: bool = True) -> RunResult:
        """Run ``command`` in the guest; its output also joins the console stream.

        ``timeout`` None lets it run for as long as it runs (a fuzzer); ``keep``
        False keeps no copy of its output in the result (the console has it).

        Raises:
            CommandTimeout: it ran longer than ``timeout`` (it was killed).
            GuestError: SSH failed.
        """
        conn = await self.connection()
        self._runs += 1
        key = f"run{self._runs}"
        self.output.feed("vmtui", f"$ {command}\n".encode())
        # The first stdout line is the command's pid, so it can be killed.
        wrapped = f"echo $$; exec sh -c {shlex.quote(command)}"
        try:
            proc = await conn.create_process(wrapped, encoding=None,
                                             stdin=asyncssh.DEVNULL)
        except asyncssh.Error as exc:
            raise GuestError(f"{self.name}: cannot start {command!r}: {exc}") from exc
        # The pid comes first, before the command's own time starts: under load
        # it can take a while, and without it a timed-out command cannot be killed.
        pid: int | None = None
        out, err = bytearray(), bytearray()
        try:
            with contextlib.suppress(TimeoutError, ValueError):
                pid = int(await asyncio.wait_for(proc.stdout.readline(), 15))
            async with asyncio.timeout(timeout):
                await asyncio.gather(
                    self._pump(proc.stdout, f"{key}:out", "stdout", out if keep else None),
                    self._pump(proc.stderr, f"{key}:err", "stderr", err if keep else None))
                completed = await proc.wait()
        except (TimeoutError, asyncio.CancelledError) as exc:
            await self._kill(conn, pid)
            proc.close()
            if isinstance(exc, TimeoutError):
                self.output.feed("vmtui",
                                 f"[killed after {timeout or 0:g}s: {command}]\n".encode())
                raise CommandTimeout(f"{self.name}: {command!r} did not finish within "
                                     f"{timeout or 0:g}s; killed") from None
            raise
        except (OSError, asyncssh.Error) as exc:
            # The connection died under the command (the guest reset, crashed or
            # was stopped past the keepalives): the command's fate is unknown.
            raise GuestError(f"{self.name}: SSH broke while {command!r} ran: "
                             f"{exc}") from exc
        status = completed.exit_status if completed.exit_status is not None else -1
        # asyncssh gives (signal, core dumped, message, language) for a signalled command.
        signal = completed.exit_signal[0] if completed.exit_signal else ""
        return RunResult(status, bytes(out), bytes(err), signal)

    async def read(self, command: str, timeout: float = 30.0) -> bytes:
        """Run ``command``; its stdout, kept out of the console (a symbol table).

        Raises:
            GuestError: SSH failed, the command failed or outlived ``timeout``.
        """
        try:
            async with asyncio.timeout(timeout):
                conn = await self.connection(timeout=timeout)
                done = await conn.run(command, check=False, encoding=None,
                                      stdin=asyncssh.DEVNULL)
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise GuestError(f"{self.name}: reading {command!r} failed: "
                             f"{exc or type(exc).__name__}") from exc
        out, err = _raw(done.stdout), _raw(done.stderr)
        if done.exit_status != 0:
            why = err.decode(errors="replace").strip()[:200]
            raise GuestError(f"{self.name}: {command!r} exited with status "
                             f"{done.exit_status}: {why}")
        return out

    async def _pump(self, stream: Any, key: str, tag: str, keep: bytearray | None) -> None:
        try:
            while data := await stream.read(65536):
                if keep is not None:
                    keep += data
                self.output.feed(key, data, tag=tag)
        finally:
            self.output.eof(key)

    async def _kill(self, conn: asyncssh.SSHClientConnection, pid: int | None) -> None:
        if pid is None:
            return
        try:
            await asyncio.wait_for(conn.run(f"pkill -9 -P {pid}; kill -9 {pid}",
                                            check=False), 5)
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            # The connection died with the command: nothing is left to kill.
            log.info("%s: killing command %d in the guest failed: %s", self.name, pid, exc)

    async def copy_in(self, local: Path, remote: str | None = None) -> str:
        """Copy a host file or folder (with what it holds) into the guest (SFTP);
        return its path there."""
        dest = remote or f"{self.copy_dir.rstrip('/')}/{local.name}"
        conn = await self.connection()
        try:
            async with conn.start_sftp_client() as sftp:
                await sftp.put(str(local), dest, recurse=local.is_dir(), preserve=True)
        except (OSError, asyncssh.Error) as exc:
            raise GuestError(f"{self.name}: copying {local} to {dest} failed: {exc}") from exc
        return dest

    async def forward(self, host_port: int, host: str = "127.0.0.1") -> str:
        """Let the guest reach a host TCP service; return ``ADDRESS:PORT`` in the guest."""
        conn = await self.connection()
        try:
            listener = await conn.forward_remote_port("127.0.0.1", 0, host, host_port)
        except (OSError, asyncssh.Error) as exc:
            raise GuestError(f"{self.name}: forwarding host port {host_port} into the "
                             f"guest failed: {exc}") from exc
        self._listeners.append(listener)
        return f"127.0.0.1:{listener.get_port()}"

    async def close(self) -> None:
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            try:
                await asyncio.wait_for(conn.wait_closed(), 2)
            except (OSError, asyncssh.Error, TimeoutError) as exc:
                log.debug("%s: SSH close: %s", self.name, exc)


def _raw(data: bytes | str | None) -> bytes:
    """A stream's output as bytes (asyncssh types it for both encodings)."""
    return data.encode() if isinstance(data, str) else data or b""
