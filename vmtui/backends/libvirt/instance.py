"""A libvirt domain as a vmtui instance.

Everything goes through libvirt's API (its Python binding, events on the asyncio
loop): the console is the domain's console stream, states come from lifecycle
events, lifecycle actions are libvirt calls, and the QMP inspectors, SysRq and
register dumps go through libvirt's QEMU monitor pass-through. When the host's
connection closes the instance says it is lost (an event the fleet follows) and,
once the host is back, looks its domain up again and re-attaches. Closing
destroys the domain only if vmtui created it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from vmtui.backends.libvirt.connection import Host, MonitorDomain, binding, call
from vmtui.backends.qemu.instance import _taken_ports
from vmtui.backends.ssh.session import GuestSession
from vmtui.backends.ssh.target import SSHTarget, wait_for_ssh
from vmtui.backends.vm import Instance
from vmtui.backends.vm.diagnose import sysrq_keys
from vmtui.backends.vm.merger import OutputMerger
from vmtui.backends.vm.qmp_types import Event

log = logging.getLogger(__name__)

# libvirt's lifecycle events (virDomainEventType) and the QMP-like names the
# fleet follows; a suspend for a guest panic is the panic.
SUSPENDED, RESUMED, STOPPED, CRASHED = 3, 4, 5, 8
SUSPENDED_PANIC, STOPPED_SHUTDOWN, STOPPED_DESTROYED = 9, 0, 1
# virDomainState: what a domain found again is doing.
STATE_PAUSED, STATE_SHUTOFF, STATE_CRASHED, STATE_PMSUSPENDED = 3, 5, 6, 7


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

    def __init__(self, name: str, host: Host, dom: Any, ssh: SSHTarget | None,
                 output: OutputMerger, boot_timeout: float, *, owned: bool,
                 overlay: Any = None) -> None:
        self.name = name
        self.host = host
        self.owned = owned  # created by vmtui (transient): destroyed when closed
        self._overlay = overlay  # its disk overlay volume, deleted with it
        self._libvirt = binding()
        self._conn = host.conn
        self._uuid = dom.UUIDString()
        self._domain_name = dom.name()
        self.domain = MonitorDomain(name, dom, host.uri)
        self.ssh = ssh
        self.guest = GuestSession(name, ssh, output) if ssh is not None else None
        self._output = output
        self.boot_timeout = boot_timeout
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._subs: set[_Events] = set()
        self._stream: Any = None
        self._callbacks: list[int] = []
        self._closed = False
        self.console_missing = ""  # why there is no console stream, if there is none

    @property
    def _dom(self) -> Any:
        """The domain's handle (a new one when the host comes back)."""
        return self.domain.dom

    # -- console and events ------------------------------------------------------

    async def attach(self) -> None:
        """Open the console stream and follow the domain's events."""
        self.host.watch(self)
        lv = self._libvirt
        stream = self._conn.newStream(lv.VIR_STREAM_NONBLOCK)
        try:
            await call(self._dom.openConsole, None, stream, lv.VIR_DOMAIN_CONSOLE_FORCE)
        except lv.libvirtError as exc:
            if exc.get_error_code() != lv.VIR_ERR_NO_SUPPORT:
                raise
            if not self.console_missing:  # said once, not at every re-attach
                self.console_missing = f"no console: not available on this driver ({exc})"
                self._output.feed("vmtui", f"[vmtui] {self.console_missing}\n".encode())
        else:
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

    def _emit(self, name: str, data: dict[str, Any] | None = None) -> None:
        event = Event(name, data or {}, time.time())
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
            self._finish({STOPPED_SHUTDOWN: 0, STOPPED_DESTROYED: -9}.get(detail, 1))

    def _rebooted(self, conn: Any, dom: Any, _: Any) -> None:
        self._emit("RESET")

    # -- the host going away and coming back --------------------------------------

    def host_lost(self, why: str) -> None:
        """The connection closed: the domain may well run on; say so and wait."""
        stream, self._stream, self._callbacks = self._stream, None, []
        if stream is not None:
            try:
                stream.eventRemoveCallback()
            except self._libvirt.libvirtError:
                pass
        self._emit("HOST_LOST", {"reason": why})

    async def host_back(self, conn: Any) -> None:
        """The host answers again: find the domain, re-attach, carry on."""
        if self._closed or self._exit.done():
            return
        lv = self._libvirt
        self._conn = conn
        try:
            dom = await call(conn.lookupByUUIDString, self._uuid)
            state = (await call(dom.state))[0]
        except lv.libvirtError as exc:
            log.warning("%s: not found again: %s", self.name, exc)
            self._gone(f"the domain {self._domain_name} is gone from {self.host.label}")
            return
        if state == STATE_SHUTOFF:
            self._gone(f"the domain {self._domain_name} was shut off while "
                       f"{self.host.label} was lost")
            return
        self.domain.dom = dom
        try:
            await self.attach()
        except lv.libvirtError as exc:
            self._emit("HOST_LOST", {"reason": f"re-attaching failed: {exc.get_error_message()}"})
            return
        back = {STATE_PAUSED: "paused", STATE_CRASHED: "crashed",
                STATE_PMSUSPENDED: "paused"}.get(state, "running")
        self._emit("HOST_BACK", {"state": back})

    def _gone(self, why: str) -> None:
        self._emit("HOST_GONE", {"reason": why})
        self._finish(1, why)

    def _finish(self, status: int, why: str = "") -> None:
        """The domain is over for this instance: its exit status (unless it has
        one), the console's end, every event subscriber done."""
        if not self._exit.done():
            self._exit.set_result(status)
        self._end_console(why)
        for sub in list(self._subs):
            sub.close()

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
        self.host.unwatch(self)
        if self.owned and not self.host.lost:
            await self.destroy()  # a transient domain vmtui created: that removes it
        if self._overlay is not None and not self.host.lost:
            try:
                await call(self._overlay.delete, 0)
            except self._libvirt.libvirtError as exc:
                log.warning("%s: deleting its disk overlay: %s", self.name, exc)
        for callback in self._callbacks:
            try:
                self._conn.domainEventDeregisterAny(callback)
            except self._libvirt.libvirtError:
                pass
        if self.guest is not None:
            await self.guest.close()
        if self.owned and self.ssh is not None:  # the port vmtui chose for it
            _taken_ports.discard(self.ssh.port)
        self._finish(-9)

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

    async def destroy(self) -> None:
        """Power the domain off hard (a kill asked for; it stays defined)."""
        if not self.exited():
            try:
                await call(self._dom.destroy)
            except self._libvirt.libvirtError as exc:
                log.info("%s: destroy: %s", self.name, exc)

    async def start(self) -> None:
        """Start a defined domain that is off (an existing one the pool adopted)."""
        await call(self._dom.create)

    async def wait_ready(self, timeout: float | None = None) -> float:
        if self.ssh is None:
            return 0.0
        return await wait_for_ssh(self.ssh, timeout or self.boot_timeout,
                                  nudge=self._output.activity)

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

    async def registers_all(self) -> str:
        """``info registers -a``: every vCPU in one call (RIP, CPL, HLT; about 1 ms)."""
        return await self.domain.hmp("info registers -a")

    async def inject_nmi(self) -> None:
        await call(self._dom.injectNMI, 0)

    @property
    def inspector(self) -> MonitorDomain:
        return self.domain

    def facts(self) -> list[tuple[str, str]]:
        lost = f" (lost: {self.host.lost})" if self.host.lost else ""
        rows = [("libvirt", self.host.label + lost),
                ("Domain", self._domain_name + ("" if self.owned else " (existing)")),
                ("UUID", self._uuid)]
        if self._overlay is not None:
            rows.append(("Disk overlay", str(self._overlay.path())))
        if self.ssh is not None:
            rows.append(("SSH", f"{self.ssh.user}@{self.ssh.host}:{self.ssh.port}"))
        return rows
