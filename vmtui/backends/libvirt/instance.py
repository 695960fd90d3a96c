"""Libvirt pools: one transient domain per instance, made from a domain XML template.

Everything goes through libvirt's API (its Python binding, events on the asyncio
loop): the domain is created paused so its console stream and lifecycle events
are attached before the first instruction; lifecycle actions are libvirt calls;
the QMP inspectors, SysRq and register dumps go through libvirt's QEMU monitor
pass-through. vmtui destroys the domains it created, and only those.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from vmtui.backends.base import BootError, InfraError, Instance, Pool
from vmtui.backends.diagnose import sysrq_keys
from vmtui.backends.guestops import GuestSession
from vmtui.backends.libvirt.config import LibvirtConfig
from vmtui.backends.libvirt.connection import MonitorDomain, binding, call, open_connection
from vmtui.backends.merger import OutputMerger
from vmtui.backends.qemu.instance import _taken_ports, free_port
from vmtui.backends.qmp_types import Event
from vmtui.backends.ssh import SSHTarget, wait_for_ssh

log = logging.getLogger(__name__)

# libvirt's lifecycle events (virDomainEventType) and the QMP-like names the
# fleet follows; a suspend for a guest panic is the panic.
SUSPENDED, RESUMED, STOPPED, CRASHED = 3, 4, 5, 8
SUSPENDED_PANIC, STOPPED_SHUTDOWN, STOPPED_DESTROYED = 9, 0, 1


def render(template: str, name: str, index: int, pool: str, ssh_port: int) -> str:
    """The template with this instance's name, index, UUID, MAC and SSH port."""
    digest = hashlib.sha256(f"{pool}/{name}".encode()).digest()
    mac = "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])
    values = {"{name}": name, "{index}": str(index), "{uuid}": str(uuid.UUID(bytes=digest[:16])),
              "{mac}": mac, "{ssh_port}": str(ssh_port)}
    for key, value in values.items():
        template = template.replace(key, value)
    return template


class _Events:
    """One subscriber's events (async-iterable; close() ends it)."""

    def __init__(self, inst: LibvirtInstance) -> None:
        self._inst = inst
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=1000)
        inst._subs.add(self)

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> Event:
        event = await self.queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    def close(self) -> None:
        self._inst._subs.discard(self)
        self.queue.put_nowait(None)


class LibvirtInstance(Instance):
    """One transient libvirt domain: its console stream, events and monitor."""

    def __init__(self, name: str, conn: Any, dom: Any, uri: str, ssh: SSHTarget | None,
                 output: OutputMerger, boot_timeout: float) -> None:
        self.name = name
        self.uri = uri
        self._libvirt = binding()
        self._conn = conn
        self._dom = dom
        self.domain = MonitorDomain(name, dom, uri)
        self.ssh = ssh
        self.guest = GuestSession(name, ssh, output) if ssh is not None else None
        self._output = output
        self.boot_timeout = boot_timeout
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._subs: set[_Events] = set()
        self._stream: Any = None
        self._callbacks: list[int] = []
        self._closed = False

    # -- console and events ------------------------------------------------------

    async def attach(self) -> None:
        """Open the console stream and follow the domain's events."""
        lv = self._libvirt
        stream = self._conn.newStream(lv.VIR_STREAM_NONBLOCK)
        await call(self._dom.openConsole, None, stream, lv.VIR_DOMAIN_CONSOLE_FORCE)
        stream.eventAddCallback(lv.VIR_STREAM_EVENT_READABLE | lv.VIR_STREAM_EVENT_ERROR
                                | lv.VIR_STREAM_EVENT_HANGUP, self._readable, None)
        self._stream = stream
        self._callbacks = [
            self._conn.domainEventRegisterAny(self._dom, lv.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                              self._lifecycle, None),
            self._conn.domainEventRegisterAny(self._dom, lv.VIR_DOMAIN_EVENT_ID_REBOOT,
                                              self._rebooted, None),
        ]

    def _readable(self, stream: Any, events: int, _: Any) -> None:
        while True:
            try:
                data = stream.recv(65536)
            except self._libvirt.libvirtError as exc:
                self._end_console(f"console stream: {exc.get_error_message()}")
                return
            if data == -2:  # nothing more for now
                return
            if not data:
                self._end_console("")
                return
            self._output.feed("console", data)

    def _end_console(self, why: str) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            stream.eventRemoveCallback()
            stream.abort()
        except self._libvirt.libvirtError:
            pass
        self._output.eof("console", RuntimeError(why) if why else None)

    def _emit(self, name: str) -> None:
        event = Event(name, {}, time.time())
        for sub in list(self._subs):
            if not sub.queue.full():
                sub.queue.put_nowait(event)

    def _lifecycle(self, conn: Any, dom: Any, event: int, detail: int, _: Any) -> None:
        if event == SUSPENDED:
            self._emit("GUEST_PANICKED" if detail == SUSPENDED_PANIC else "STOP")
        elif event == RESUMED:
            self._emit("RESUME")
        elif event == CRASHED:
            self._emit("GUEST_PANICKED")
        elif event == STOPPED and not self._exit.done():
            status = {STOPPED_SHUTDOWN: 0, STOPPED_DESTROYED: -9}.get(detail, 1)
            self._exit.set_result(status)
            self._end_console("")
            for sub in list(self._subs):
                sub.close()

    def _rebooted(self, conn: Any, dom: Any, _: Any) -> None:
        self._emit("RESET")

    def subscribe_events(self) -> _Events:
        return _Events(self)

    # -- the contract ------------------------------------------------------------

    def exited(self) -> bool:
        return self._exit.done()

    async def wait_exit(self) -> int:
        return await asyncio.shield(self._exit)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.exited():
            try:  # a transient domain vmtui created: destroying it removes it
                await call(self._dom.destroy)
            except self._libvirt.libvirtError as exc:
                log.debug("%s: destroy: %s", self.name, exc)
        for callback in self._callbacks:
            try:
                self._conn.domainEventDeregisterAny(callback)
            except self._libvirt.libvirtError:
                pass
        self._end_console("")
        if self.guest is not None:
            await self.guest.close()
        if self.ssh is not None:
            _taken_ports.discard(self.ssh.port)
        if not self._exit.done():
            self._exit.set_result(-9)
        for sub in list(self._subs):
            sub.close()

    # -- lifecycle ---------------------------------------------------------------

    async def powerdown(self, timeout: float = 30.0) -> int:
        await call(self._dom.shutdown)
        try:
            return await asyncio.wait_for(asyncio.shield(self._exit), timeout)
        except TimeoutError:
            await call(self._dom.destroy)
            return await asyncio.wait_for(asyncio.shield(self._exit), 10)

    async def reset(self) -> None:
        await call(self._dom.reset, 0)

    async def pause(self) -> None:
        await call(self._dom.suspend)

    async def resume(self) -> None:
        await call(self._dom.resume)

    async def wait_ready(self, timeout: float | None = None) -> float:
        if self.ssh is None:
            return 0.0
        return await wait_for_ssh(self.ssh, timeout or self.boot_timeout)

    # -- console input, diagnose, inspectors -------------------------------------

    async def write_console(self, data: bytes) -> None:
        stream = self._stream
        while data and stream is not None:
            sent = stream.send(data)
            if sent == -2:
                await asyncio.sleep(0.01)
                continue
            data = data[sent:]

    async def send_sysrq(self, letter: str) -> None:
        await self.domain.send_keys(*sysrq_keys(letter))

    async def registers(self) -> dict[int, str]:
        return {cpu.index: await self.domain.hmp("info registers", cpu_index=cpu.index)
                for cpu in await self.domain.cpus()}

    async def inject_nmi(self) -> None:
        await call(self._dom.injectNMI, 0)

    @property
    def inspector(self) -> MonitorDomain:
        return self.domain

    def facts(self) -> list[tuple[str, str]]:
        rows = [("libvirt", self.uri), ("Domain", self._dom.name()),
                ("UUID", self._dom.UUIDString())]
        if self.ssh is not None:
            rows.append(("SSH", f"{self.ssh.user}@{self.ssh.host}:{self.ssh.port}"))
        return rows


class LibvirtPool(Pool):
    """Creates a transient domain per instance from the config's template."""

    _conn: Any = None

    @property
    def config(self) -> LibvirtConfig:
        cfg: LibvirtConfig = self.env.config
        return cfg

    async def connection(self) -> Any:
        if self._conn is None:
            self._conn = await open_connection(self.config.uri)
        return self._conn

    async def create(self, name: str, workdir: Path, index: int,
                     output: OutputMerger) -> LibvirtInstance:
        lv = binding()
        cfg, env = self.config, self.env
        conn = await self.connection()
        assert cfg.template is not None
        port = free_port()
        xml = render(cfg.template.read_text(), name, index, env.name, port)
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (workdir / "domain.xml").write_text(xml)
        try:
            # Paused: the console and events are attached before it runs.
            dom = await call(conn.createXML, xml, lv.VIR_DOMAIN_START_PAUSED)
        except lv.libvirtError as exc:
            _taken_ports.discard(port)
            raise InfraError(f"{name}: libvirt refused the domain: "
                             f"{exc.get_error_message()}") from exc
        ssh = None
        if env.ssh_key is not None:
            ssh = SSHTarget(cfg.ssh_host, port, env.ssh_user, env.ssh_key, env.ssh_host_key,
                            env.ssh_host_key_check)
        inst = LibvirtInstance(name, conn, dom, cfg.uri, ssh, output, env.boot_timeout)
        try:
            await inst.attach()
            await inst.resume()
            if ssh is not None:
                ready = asyncio.ensure_future(wait_for_ssh(ssh, env.boot_timeout))
                died = asyncio.ensure_future(inst.wait_exit())
                await asyncio.wait({ready, died}, return_when=asyncio.FIRST_COMPLETED)
                if not ready.done():
                    ready.cancel()
                    raise BootError(f"{name}: the domain stopped during boot", output.tail())
                died.cancel()
                try:
                    ready.result()
                except TimeoutError as exc:
                    raise BootError(f"{name}: no SSH within {env.boot_timeout:g}s of boot: "
                                    f"{exc}", output.tail()) from exc
        except BaseException:
            await inst.close()
            raise
        return inst
