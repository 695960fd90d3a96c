"""QEMU as a VM type: the Pool that boots instances and the Instance itself."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

from vmtui.backends.base import BootError, InfraError, Instance, Pool
from vmtui.backends.merger import OutputMerger
from vmtui.backends.qemu import launcher
from vmtui.backends.qemu.config import LaunchPlan, QemuConfig, build_argv
from vmtui.backends.ssh import SSHTarget, wait_for_ssh

log = logging.getLogger(__name__)


def kvm_usable() -> tuple[bool, str]:
    """Whether /dev/kvm can be opened for reading and writing, and why not."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False, "/dev/kvm does not exist"
    except OSError as exc:
        return False, f"/dev/kvm cannot be opened: {exc.strerror}"
    os.close(fd)
    return True, ""


def resolve_accel(requested: str) -> tuple[str, str]:
    """The accelerator to use and a note for the operator (empty if none).

    Raises:
        InfraError: KVM was asked for explicitly and is not available.
    """
    if requested == "tcg":
        return "tcg", ""
    ok, why = kvm_usable()
    if ok:
        return "kvm", ""
    if requested == "kvm":
        raise InfraError(f"KVM is not available: {why} (use accel: tcg or auto)")
    return "tcg", f"KVM is not available ({why}): using TCG"


_taken_ports: set[int] = set()


def free_port() -> int:
    """A loopback TCP port nobody listens on now (and not handed out before)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _taken_ports:
            _taken_ports.add(port)
            return port
    raise InfraError("no free loopback port for SSH forwarding")


class QemuInstance(Instance):
    """One QEMU process, its console pipes, its QMP socket and its SSH port."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, argv: list[str],
                 qmp_socket: Path, ssh: SSHTarget | None, accel: str) -> None:
        self.name = name
        self.proc = proc
        self.argv = argv
        self.qmp_socket = qmp_socket
        self.ssh = ssh
        self.accel = accel
        self._closed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def exited(self) -> bool:
        return self.proc.returncode is not None

    async def wait_exit(self) -> int:
        return await self.proc.wait()

    async def write_console(self, data: bytes) -> None:
        """Type bytes into the serial console."""
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing() or self.exited():
            return
        stdin.write(data)
        await stdin.drain()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await launcher.kill(self.proc)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        if self.ssh is not None:
            launcher_port = self.ssh.port
            _taken_ports.discard(launcher_port)
        self.qmp_socket.unlink(missing_ok=True)


class QemuPool(Pool):
    """Boots QEMU instances from a :class:`QemuConfig`."""

    @property
    def config(self) -> QemuConfig:
        cfg: QemuConfig = self.env.config
        return cfg

    async def create(self, name: str, workdir: Path, index: int,
                     output: OutputMerger) -> QemuInstance:
        cfg = self.config
        binary = launcher.find_binary(cfg.qemu)
        accel, note = resolve_accel(cfg.accel)
        if note:
            output.feed("vmtui", f"{note}\n".encode())
        ssh_port = free_port() if cfg.network else None
        plan = LaunchPlan(
            name=name,
            qmp_socket=self.env.runtime_dir / f"{name}.qmp",
            ssh_port=ssh_port,
            accel=accel,
        )
        argv = build_argv(cfg, plan)
        argv[0] = binary
        (workdir / "qemu.cmdline").write_text("\0".join(argv) + "\0")
        proc = await launcher.spawn(argv, cwd=workdir)
        assert proc.stdout is not None and proc.stderr is not None
        output.add("console", proc.stdout)
        output.add("qemu", proc.stderr)
        ssh = None
        if ssh_port is not None and self.env.ssh_key is not None:
            ssh = SSHTarget("127.0.0.1", ssh_port, self.env.ssh_user, self.env.ssh_key,
                            self.env.ssh_host_key, self.env.ssh_host_key_check)
        inst = QemuInstance(name, proc, argv, plan.qmp_socket, ssh, accel)
        try:
            await self._wait_ready(inst, output)
        except BaseException:
            await inst.close()
            raise
        return inst

    async def _wait_ready(self, inst: QemuInstance, output: OutputMerger) -> None:
        timeout = self.env.boot_timeout
        if inst.ssh is None:
            # Without SSH, "up" means the process survived a moment.
            await asyncio.sleep(0.5)
            if inst.exited():
                await self._exited_during_boot(inst, output)
            return
        ready = asyncio.ensure_future(wait_for_ssh(inst.ssh, timeout))
        died = asyncio.ensure_future(inst.wait_exit())
        try:
            await asyncio.wait({ready, died}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (ready, died):
                if not task.done():
                    task.cancel()
        if died.done() and not ready.done():
            await self._exited_during_boot(inst, output)
        try:
            ready.result()
        except TimeoutError as exc:
            raise BootError(f"{inst.name}: no SSH within {timeout:g}s of boot: {exc}",
                            output.tail()) from exc
        except Exception as exc:
            raise BootError(f"{inst.name}: SSH failed during boot: {exc}",
                            output.tail()) from exc

    async def _exited_during_boot(self, inst: QemuInstance, output: OutputMerger) -> None:
        status = await inst.wait_exit()
        await output.wait_sources(timeout=2)
        raise BootError(f"{inst.name}: QEMU exited with status {status} during boot",
                        output.tail())
