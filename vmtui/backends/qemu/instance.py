"""QEMU as a VM type: the Pool that boots instances and the Instance itself."""

from __future__ import annotations

import asyncio
import logging
import shlex
import shutil
import socket
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from vmtui.backends.qemu import gdbstub, hostdev, launcher, vmstate
from vmtui.backends.qemu.accel import resolve_accel
from vmtui.backends.qemu.config import LaunchPlan, QemuConfig, build_argv
from vmtui.backends.qemu.domain import Domain, DomainError, DomainTimeout, EventSubscription
from vmtui.backends.qemu.launcher import process_state
from vmtui.backends.qemu.perinstance import for_instance, make_overlays
from vmtui.backends.qemu.slots import BootTurns
from vmtui.backends.ssh.session import GuestSession
from vmtui.backends.ssh.target import SSHTarget, wait_for_ssh
from vmtui.backends.vm import BootError, Env, InfraError, Instance, Pool, StateError
from vmtui.backends.vm.diagnose import sysrq_keys
from vmtui.backends.vm.merger import OutputMerger
from vmtui.backends.vm.qmp_types import VMSnapshot

log = logging.getLogger(__name__)
T = TypeVar("T")

PROBE_TIMEOUT = 2.0  # seconds QEMU has to answer before a command that acts is sent


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
    """One QEMU process: console pipes, its QMP Domain, its SSH session."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, argv: list[str],
                 domain: Domain, ssh: SSHTarget | None, output: OutputMerger,
                 accel: str, boot_timeout: float, arch: str = "amd64") -> None:
        self.name = name
        self.proc = proc
        self.argv = argv
        self.domain = domain
        self.ssh = ssh
        self.guest = GuestSession(name, ssh, output) if ssh is not None else None
        self._activity = output.activity  # the guest printed something
        self.accel = accel
        self.boot_timeout = boot_timeout
        self.arch = arch
        self._gdb_socket: Path | None = None
        self._closed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def qmp_socket(self) -> Path:
        return self.domain.socket

    # -- inspectors and facts --------------------------------------------------

    @property
    def inspector(self) -> Domain:
        """The QMP queries the inspector tabs show."""
        return self.domain

    def facts(self) -> list[tuple[str, str]]:
        rows = [("PID", str(self.pid)), ("Accelerator", self.accel),
                ("QMP socket", str(self.qmp_socket))]
        if self.ssh is not None:
            rows.append(("SSH", f"{self.ssh.user}@{self.ssh.host}:{self.ssh.port}"))
        return rows

    async def info(self) -> dict[str, str]:
        """``qemu.txt`` for an incident: QEMU's version and the exact command line."""
        out = ""
        if not self.exited():
            try:
                version = await self.domain.version()
                out += f"version: {version} ({version.package})\n"
            except DomainError as exc:
                out += f"version: unavailable ({exc})\n"
        out += f"command line: {shlex.join(self.argv)}\n"
        return {"qemu.txt": out}

    # -- gdb stub --------------------------------------------------------------

    async def open_debug_stub(self) -> str:
        """QEMU's gdb stub on a unix socket in the private runtime folder (never
        a TCP port: any local user may connect to one); the gdb command that
        attaches."""
        path = gdbstub.socket_path(self.qmp_socket.parent, self.name)
        try:
            gdbstub.check_private(path)
        except StateError as exc:
            raise StateError(f"{self.name}: {exc}") from None
        answer = await self.domain.hmp(gdbstub.hmp_open(path))
        if "Waiting for gdb connection" not in answer:
            raise StateError(f"{self.name}: QEMU refused the gdb stub: {answer.strip()}")
        self._gdb_socket = path
        return gdbstub.attach_command(path, self.arch)

    async def close_debug_stub(self) -> None:
        if self._gdb_socket is None:
            return
        path, self._gdb_socket = self._gdb_socket, None
        if not self.exited():
            await self.domain.hmp("gdbserver none")  # QEMU removes the socket
        path.unlink(missing_ok=True)

    def exited(self) -> bool:
        return self.proc.returncode is not None

    def frozen(self) -> bool:
        return not self.exited() and process_state(self.pid) in ("T", "t")

    async def _awake(self, doing: str) -> None:
        """Refuse to queue ``doing`` on a QEMU that cannot take it now: a command
        waiting in its socket would run whenever it wakes (a late SysRq c crashes
        the guest long after the operator gave up)."""
        if self.frozen():
            raise StateError(f"{self.name}: the QEMU process is stopped (SIGSTOP or a "
                             f"debugger): {doing} not sent; continue it first")
        try:
            await self.domain.execute("query-status", timeout=PROBE_TIMEOUT)
        except DomainTimeout:
            raise DomainTimeout(f"{self.name}: QEMU did not answer a status probe within "
                                f"{PROBE_TIMEOUT:g}s: {doing} not sent (it would run "
                                "whenever QEMU answers again)") from None

    async def wait_exit(self) -> int:
        return await self.proc.wait()

    async def write_console(self, data: bytes) -> None:
        """Type bytes into the serial console."""
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing() or self.exited():
            return
        stdin.write(data)
        await stdin.drain()

    def subscribe_events(self) -> EventSubscription:
        """QMP events from now on (STOP, RESUME, RESET, SHUTDOWN, GUEST_PANICKED...)."""
        return self.domain.subscribe()

    async def wait_ready(self, timeout: float | None = None) -> float:
        """Wait until SSH answers again (after a reset); return the seconds it took."""
        if self.ssh is None:
            return 0.0
        return await wait_for_ssh(self.ssh, timeout or self.boot_timeout,
                                  nudge=self._activity)

    # -- diagnose --------------------------------------------------------------

    async def send_sysrq(self, letter: str) -> None:
        """SysRq through the emulated keyboard (works with SSH dead)."""
        await self._awake(f"SysRq {letter}")
        await self.domain.send_keys(*sysrq_keys(letter))

    async def registers(self) -> dict[int, str]:
        """``info registers`` of every vCPU, by CPU index."""
        return {cpu.index: await self.domain.hmp("info registers", cpu_index=cpu.index)
                for cpu in await self.domain.cpus()}

    async def registers_all(self) -> str:
        """``info registers -a``: every vCPU in one call (RIP, CPL, HLT; about 1 ms)."""
        return await self.domain.hmp("info registers -a")

    async def inject_nmi(self) -> None:
        await self._awake("the NMI")
        await self.domain.inject_nmi()

    # -- lifecycle -------------------------------------------------------------

    async def powerdown(self, timeout: float = 30.0) -> int:
        """ACPI power button; kill if the guest has not shut down after ``timeout``."""
        try:
            await self.domain.system_powerdown()
            return await asyncio.wait_for(asyncio.shield(self.wait_exit()), timeout)
        except (TimeoutError, DomainError) as exc:
            log.info("%s: powerdown did not finish (%s): killing", self.name, exc)
            return await launcher.kill(self.proc)

    async def reset(self) -> None:
        """Hard reset. The guest that comes back is a new machine: its SSH
        session is dropped now, and the next use opens a new one."""
        if self.guest is not None:
            await self.guest.close()
        await self.domain.system_reset()

    async def pause(self) -> None:
        await self.domain.stop()

    async def snapshots(self) -> list[VMSnapshot]:
        return await vmstate.snapshots(self.domain)

    async def take_snapshot(self, tag: str) -> None:
        await vmstate.save(self.domain, tag)

    async def restore_snapshot(self, tag: str) -> None:
        """The guest goes back in time: its TCP peers (our SSH session) are
        dropped, and the next use opens a new one."""
        if self.guest is not None:
            await self.guest.close()
        await vmstate.load(self.domain, tag)

    async def delete_snapshot(self, tag: str) -> None:
        await vmstate.delete(self.domain, tag)

    async def resume(self) -> None:
        await self.domain.cont()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # QEMU first: a guest that crashed answers no SSH goodbye, and its
        # connection ends at once with the VM (no wait for a timeout).
        await launcher.kill(self.proc)
        if self.guest is not None:
            await self.guest.close()
        await self.domain.close()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        if self.ssh is not None:
            _taken_ports.discard(self.ssh.port)
        self.domain.socket.unlink(missing_ok=True)
        if self._gdb_socket is not None:  # a QEMU that was killed left it
            self._gdb_socket.unlink(missing_ok=True)


class QemuPool(Pool):
    """Boots QEMU instances from a :class:`QemuConfig`."""

    @property
    def config(self) -> QemuConfig:
        cfg: QemuConfig = self.env.config
        return cfg

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self._turns = BootTurns(self.config.boot_parallel)  # boots wait for a turn

    async def create(self, name: str, workdir: Path, index: int,
                     output: OutputMerger) -> QemuInstance:
        def waiting(why: str) -> None:
            output.feed("vmtui", f"[vmtui] {why}\n".encode())

        async with self._turns.turn(waiting):
            return await self._create(name, workdir, index, output)

    async def _create(self, name: str, workdir: Path, index: int,
                      output: OutputMerger) -> QemuInstance:
        # This instance's values ({name}, {index}), and its own disk overlays.
        cfg = await make_overlays(for_instance(self.config, name, index), workdir)
        binary = launcher.find_binary(cfg.qemu)
        accel, note = await resolve_accel(cfg.accel, binary, cfg.cpu, cfg.machine)
        if note:
            output.feed("vmtui", f"[vmtui] {note}\n".encode())
        hostdev.check_host(cfg, accel)
        ssh_port = free_port() if cfg.network else None
        fds = hostdev.open_device_fds(cfg, name)
        uefi_vars = None
        if cfg.firmware == "uefi":  # the instance's own variable store, kept across boots
            uefi_vars = workdir / "uefi-vars.fd"
            if not uefi_vars.exists():
                shutil.copyfile(cfg.ovmf_vars, uefi_vars)
        plan = LaunchPlan(name=name, qmp_socket=self.env.runtime_dir / f"{name}.qmp",
                          ssh_port=ssh_port, accel=accel, fds=fds, uefi_vars=uefi_vars,
                          index=index)
        try:
            argv = build_argv(cfg, plan)
            argv[0] = binary
            (workdir / "qemu.cmdline").write_text("\0".join(argv) + "\0")
            proc = await launcher.spawn(argv, cwd=workdir,
                                        pass_fds=tuple(fd for f in fds.values() for fd in f))
        finally:
            hostdev.close_fds(fds)  # QEMU holds its own copies now
        assert proc.stdout is not None and proc.stderr is not None
        output.add("console", proc.stdout)
        output.add("qemu", proc.stderr)
        ssh = None
        if ssh_port is not None and self.env.ssh_key is not None:
            ssh = SSHTarget("127.0.0.1", ssh_port, self.env.ssh_user, self.env.ssh_key,
                            self.env.ssh_host_key, self.env.ssh_host_key_check)
        domain = Domain(name, plan.qmp_socket)
        inst = QemuInstance(name, proc, argv, domain, ssh, output, accel,
                            self.env.boot_timeout, self.env.arch)
        try:
            await self._connect_qmp(inst, output)
            await self._wait_ready(inst, output)
        except BaseException:
            await inst.close()
            raise
        return inst

    async def _unless_exit(self, inst: QemuInstance, output: OutputMerger,
                           work: Awaitable[T]) -> T:
        """Await ``work``; if QEMU exits first, a BootError with its output."""
        task = asyncio.ensure_future(work)
        died = asyncio.ensure_future(inst.wait_exit())
        try:
            await asyncio.wait({task, died}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, died):
                if not pending.done():
                    pending.cancel()
        if died.done() and not task.done():
            await self._exited_during_boot(inst, output)
        return task.result()

    async def _connect_qmp(self, inst: QemuInstance, output: OutputMerger) -> None:
        try:
            await self._unless_exit(inst, output, inst.domain.connect(wait=10.0))
        except DomainError as exc:
            raise BootError(f"{inst.name}: {exc}", output.tail()) from exc

    async def _wait_ready(self, inst: QemuInstance, output: OutputMerger) -> None:
        timeout = self.env.boot_timeout
        inst.starts_paused = self.config.start_paused
        if inst.ssh is None or inst.starts_paused:
            # Without SSH, or with the vCPUs held (-S), "up" means the process
            # survived a moment; SSH answers once it is resumed and has booted.
            await self._unless_exit(inst, output, asyncio.sleep(0.5))
            return
        try:
            await self._unless_exit(inst, output,
                                    wait_for_ssh(inst.ssh, timeout, nudge=output.activity))
        except BootError:
            raise
        except TimeoutError as exc:
            raise BootError(f"{inst.name}: no SSH within {timeout:g}s of boot: {exc}",
                            output.tail()) from exc
        except Exception as exc:
            raise BootError(f"{inst.name}: SSH failed during boot: {exc}",
                            output.tail()) from exc

    async def _exited_during_boot(self, inst: QemuInstance, output: OutputMerger) -> None:
        status = await inst.wait_exit()
        await output.wait_sources(timeout=2)
        tail = output.tail()
        # QEMU says why on stderr, as "qemu-system-x86_64: -device ...: reason".
        said = [ln for ln in tail.decode("utf-8", "replace").splitlines()
                if ln.startswith(("qemu-system-", "qemu: "))]
        why = f": {said[-1]}" if said else ""
        raise BootError(f"{inst.name}: QEMU exited with status {status} during boot{why}", tail)
