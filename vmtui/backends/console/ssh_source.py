"""The ``ssh`` console source: a command over the instance's SSH (``dmesg -w``).

``console: {ssh: "dmesg -w"}`` runs the command in the guest once the
instance is up, its output tagged ``ssh`` and checked for crashes like the
console. It is started again (with the backoff of the other sources) when it
ends, as it does when the machine reboots and the connection drops.

``dmesg -w`` prints the whole kernel ring before it follows it, so a run that
starts again in the same boot would print every line twice. Each run first
reads the machine's boot id; :class:`Replayed` remembers the lines of the
current boot and drops the lines a new run in that boot repeats, in order.
After a reboot (a new boot id) everything is new.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import asyncssh

from vmtui.backends.console.sources import keep_running
from vmtui.backends.ssh.session import GuestError, GuestSession
from vmtui.backends.ssh.target import BOOT_ID
from vmtui.backends.vm.merger import OutputMerger

if TYPE_CHECKING:
    from vmtui.backends.config.pool import ConsoleConfig
    from vmtui.backends.vm.capabilities import GuestShell
    from vmtui.backends.vm.tasks import Background

TAG = "ssh"


class Replayed:
    """The lines of one boot, to drop what a restarted command replays."""

    def __init__(self, keep: int = 100_000) -> None:
        self.keep_lines = keep
        self.boot_id = ""
        self.seen: list[bytes] = []
        self._pos: int | None = None  # the next line a replay should repeat
        self._replaying = False

    def new_run(self, boot_id: str) -> None:
        """A run of the command starts, in boot ``boot_id``."""
        if not boot_id or boot_id != self.boot_id:
            self.boot_id = boot_id
            self.seen.clear()
            self._replaying = False
        else:
            self._replaying = bool(self.seen)
        self._pos = None

    def is_new(self, line: bytes) -> bool:
        """Whether ``line`` (no newline) is new, rather than the replay of a seen one."""
        if self._replaying:
            if self._pos is None:
                # The ring may have moved on: the replay starts somewhere in what was seen.
                try:
                    self._pos = self.seen.index(line)
                except ValueError:
                    self._replaying = False
            if self._replaying and self._pos is not None and self._pos < len(self.seen) \
                    and self.seen[self._pos] == line:
                self._pos += 1
                return False
            self._replaying = False
        self.seen.append(line)
        if len(self.seen) > 2 * self.keep_lines:
            del self.seen[:self.keep_lines]
        return True


async def run_ssh(guest: GuestSession, command: str, replayed: Replayed, output: OutputMerger,
                  note: Callable[[str], None], backoff: float, max_backoff: float) -> None:
    """Run ``command`` over ``guest``'s SSH as a console source until cancelled."""

    async def once() -> str:
        try:
            conn = await guest.connection()
            boot = await asyncio.wait_for(conn.run(BOOT_ID, check=False), 15)
            proc = await conn.create_process(command, encoding=None, stdin=asyncssh.DEVNULL,
                                             stderr=asyncssh.STDOUT)
        except (GuestError, asyncssh.Error, OSError, TimeoutError) as exc:
            return f"ssh console: {str(exc) or type(exc).__name__}"
        replayed.new_run(str(boot.stdout or "").strip())
        rest = b""
        try:
            while chunk := await proc.stdout.read(65536):
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                new = [line for line in lines if replayed.is_new(line)]
                if new:
                    output.feed(TAG, b"\n".join(new) + b"\n")
        except (asyncssh.Error, OSError) as exc:
            return f"ssh console: {exc}"
        finally:
            proc.close()
            if rest and replayed.is_new(rest):
                output.feed(TAG, rest)
            output.eof(TAG)
        return f"ssh console: {command!r} ended"

    await keep_running(once, "starting it again", note, backoff, max_backoff)


def start(guest: GuestShell | None, output: OutputMerger, cfg: ConsoleConfig,
          replayed: Replayed, tasks: Background,
          note: Callable[[str], None]) -> asyncio.Task[None] | None:
    """Start the ssh console of an instance up now; its task (None when it has no
    SSH session), for the caller to cancel when the boot ends. ``replayed`` is
    kept across the instance's boots: a restart may be in one boot of the machine."""
    # It reads a process's stream, which only the SSH session itself offers.
    if not isinstance(guest, GuestSession):
        note("ssh console: the instance has no SSH session (no network or key)")
        return None
    return tasks.spawn(run_ssh(guest, cfg.ssh, replayed, output, note, cfg.backoff,
                               cfg.max_backoff), "console-ssh")
