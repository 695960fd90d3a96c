"""Isolated machines as a VM type: reached over SSH, never started by vmtui.

An instance's boot (:meth:`IsolatedPool.create`) is syzkaller's ``isolated``
repair: wait for SSH, reboot the machine over SSH when ``target_reboot`` asks
(unless its boot id shows it rebooted by itself since, as a kernel with
``panic=N`` does after a crash), read and clear what pstore kept, empty
``target_dir``, run ``startup_script``. Closing an instance drops its SSH
session; the machine keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import asyncssh

from vmtui.backends.isolated.config import IsolatedConfig, Target
from vmtui.backends.ssh.session import GuestError, GuestSession
from vmtui.backends.ssh.target import BOOT_ID, SSHTarget, wait_for_ssh
from vmtui.backends.vm import BootError, Env, Instance, Pool
from vmtui.backends.vm.merger import OutputMerger

log = logging.getLogger(__name__)

PSTORE = "/sys/fs/pstore"
QUICK = 15.0  # seconds for one small command over SSH


class IsolatedInstance(Instance):
    """One machine vmtui watches: its SSH session, its boot id, what pstore kept."""

    def __init__(self, name: str, target: Target, ssh: SSHTarget, guest: GuestSession,
                 boot_id: str, uname: str, kept: dict[str, bytes]) -> None:
        self.name = name
        self.target = target
        self.ssh = ssh
        self.guest = guest
        self.boot_id = boot_id
        self.uname = uname
        self._kept = kept
        self._closed = asyncio.Event()

    def facts(self) -> list[tuple[str, str]]:
        return [("Machine", str(self.target)), ("Kernel", self.uname or "-"),
                ("Boot id", self.boot_id),
                ("SSH", f"{self.ssh.user}@{self.ssh.host}:{self.ssh.port}")]

    async def info(self) -> dict[str, str]:
        """``machine.txt`` for an incident, from what was read at boot (a crashed
        machine answers no SSH)."""
        return {"machine.txt": "".join(f"{k}: {v}\n" for k, v in self.facts())}

    def leftovers(self) -> dict[str, bytes]:
        return self._kept

    def exited(self) -> bool:
        return self._closed.is_set()

    async def wait_exit(self) -> int:
        """A machine vmtui did not start does not exit under it: this returns
        (0) when the instance is closed."""
        await self._closed.wait()
        return 0

    async def close(self) -> None:
        self._closed.set()
        await self.guest.close()


async def quiet(ssh: SSHTarget, command: str, timeout: float = QUICK) -> bytes:
    """Run ``command`` on its own connection; its stdout (not shown on the console).

    Raises:
        GuestError: SSH failed, or the command did not finish in ``timeout``.
    """
    try:
        async with asyncio.timeout(timeout), ssh.connect(timeout=timeout) as conn:
            done = await conn.run(command, check=False, encoding=None)
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise GuestError(f"{ssh.host}:{ssh.port}: {command!r} failed: "
                         f"{str(exc) or type(exc).__name__}") from exc
    out = done.stdout
    return out if isinstance(out, bytes) else b""


class IsolatedPool(Pool):
    """Instances of the machines listed in ``vm.targets``, one each."""

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self._boot_ids: dict[int, str] = {}  # the boot id vmtui last saw on each machine

    @property
    def config(self) -> IsolatedConfig:
        cfg: IsolatedConfig = self.env.config
        return cfg

    async def create(self, name: str, workdir: Path, index: int,
                     output: OutputMerger) -> IsolatedInstance:
        cfg, env = self.config, self.env
        target = cfg.target(index)
        ssh = SSHTarget(target.host, target.port, target.user or env.ssh_user, env.ssh_key,
                        env.ssh_host_key, env.ssh_host_key_check)
        guest = GuestSession(name, ssh, output, copy_dir=cfg.target_dir)

        def say(text: str) -> None:
            output.feed("vmtui", f"{text}\n".encode())

        try:
            say(f"machine {target}: waiting for SSH")
            boot_id = await self._boot_id(name, ssh, output, "")
            last = self._boot_ids.get(index)
            rebooted = False
            if cfg.target_reboot and last in (None, boot_id):
                say(f"machine {target}: rebooting it ({cfg.reboot_command})")
                await self._reboot(ssh)
                boot_id = await self._boot_id(name, ssh, output, boot_id)
                say(f"machine {target}: rebooted (boot id {boot_id})")
                rebooted = True
            elif last not in (None, boot_id):
                say(f"machine {target}: it rebooted by itself (boot id {boot_id})")
            self._boot_ids[index] = boot_id
            uname = (await quiet(ssh, "uname -a")).decode("utf-8", "replace").strip()
            kept = await self._pstore(ssh, workdir, say) if cfg.pstore else {}
            await quiet(ssh, f"mkdir -p '{cfg.target_dir}' && rm -rf '{cfg.target_dir}'/*")
            if cfg.startup_script is not None:
                await self._startup(guest, cfg.startup_script, cfg.target_dir, output)
        except GuestError as exc:
            await guest.close()
            raise BootError(f"{name}: {exc}", output.tail()) from exc
        except BaseException:
            await guest.close()
            raise
        inst = IsolatedInstance(name, target, ssh, guest, boot_id, uname, kept)
        # First seen this run and not rebooted: it was up before this run began.
        inst.attached = last is None and not rebooted
        return inst

    async def _boot_id(self, name: str, ssh: SSHTarget, output: OutputMerger,
                       not_this: str) -> str:
        """Wait (within the boot timeout) until SSH answers with a boot id other
        than ``not_this``; return it."""
        timeout = self.env.boot_timeout
        deadline = time.monotonic() + timeout
        last = ""
        while (left := deadline - time.monotonic()) > 0:
            try:
                await wait_for_ssh(ssh, left, nudge=output.activity)
                boot_id = (await quiet(ssh, BOOT_ID, min(QUICK, left))).decode().strip()
            except (TimeoutError, GuestError) as exc:
                last = str(exc)
                await asyncio.sleep(0.5)
                continue
            except asyncssh.Error as exc:  # the host key is not the pinned one
                raise BootError(f"{name}: SSH to {ssh.host}:{ssh.port}: {exc}",
                                output.tail()) from exc
            if boot_id and boot_id != not_this:
                return boot_id
            last = f"still up with boot id {boot_id}" if boot_id else "no boot id"
            await asyncio.sleep(0.5)
        raise BootError(f"{name}: no SSH at {ssh.host}:{ssh.port} within {timeout:g}s"
                        f"{f' ({last})' if last else ''}", output.tail())

    async def _reboot(self, ssh: SSHTarget) -> None:
        """Ask the machine to reboot; the connection dropping is expected."""
        with contextlib.suppress(GuestError):
            await quiet(ssh, f"({self.config.reboot_command}) >/dev/null 2>&1 &", QUICK)

    async def _pstore(self, ssh: SSHTarget, workdir: Path,
                      say: Callable[[str], None]) -> dict[str, bytes]:
        """Read every file pstore kept, save a copy in the workdir, clear pstore."""
        names = (await quiet(ssh, f"cd {PSTORE} 2>/dev/null && for f in *; do "
                                  f"[ -f \"$f\" ] && echo \"$f\"; done")).decode().split()
        kept: dict[str, bytes] = {}
        for file in names:
            if file.replace("-", "").replace("_", "").replace(".", "").isalnum():
                kept[file] = await quiet(ssh, f"cat '{PSTORE}/{file}'")
        if kept:
            folder = workdir / time.strftime("pstore-%Y%m%d-%H%M%S")
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            for file, data in kept.items():
                (folder / file).write_bytes(data)
            await quiet(ssh, f"rm -f {' '.join(f'{PSTORE}/{f}' for f in kept)}")
            say(f"pstore kept {len(kept)} file(s) from the last boot: "
                f"{', '.join(kept)} (copied to {folder.name}, cleared)")
        return kept

    async def _startup(self, guest: GuestSession, script: Path, target_dir: str,
                       output: OutputMerger) -> None:
        remote = await guest.copy_in(script, f"{target_dir}/{script.name}")
        result = await guest.run(f"chmod +x '{remote}' && '{remote}'",
                                 timeout=self.env.boot_timeout)
        if result.status != 0:
            raise BootError(f"{guest.name}: the startup script {script.name} "
                            f"{result.describe()}", output.tail())
