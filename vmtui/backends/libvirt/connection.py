"""libvirt's Python binding on asyncio: its events dispatched on the running
loop (libvirtaio), its blocking calls in a thread, and QMP pass-through."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from vmtui.backends.qemu.domain import Domain, DomainError
from vmtui.backends.vm import InfraError

T = TypeVar("T")

log = logging.getLogger(__name__)

# Why libvirt closed a connection (virConnectCloseReason).
CLOSE_REASONS = {0: "a connection error", 1: "the host closed it (libvirtd stopped?)",
                 2: "no keepalive answer", 3: "closed by vmtui"}
KEEPALIVE = (5, 3)  # seconds between probes, probes missed before the host is lost
BACKOFF = (0.5, 15.0)  # seconds before reconnecting: first, and at most

_registered: list[asyncio.AbstractEventLoop] = []


def binding() -> Any:
    """The ``libvirt`` module, with its event loop on the running asyncio loop.

    Raises:
        InfraError: libvirt-python is not installed.
    """
    try:
        import libvirt
        import libvirtaio
    except ImportError as exc:
        raise InfraError("type: libvirt needs libvirt's Python binding: "
                         "pip install 'vmtui[libvirt]' (it builds against libvirt-dev)") from exc
    loop = asyncio.get_running_loop()
    if not _registered or _registered[0] is not loop:
        # Events of every connection opened from now on come through this loop.
        libvirtaio.virEventRegisterAsyncIOImpl(loop=loop)
        _registered[:] = [loop]
    libvirt.registerErrorHandler(lambda *_: None, None)  # errors raise; nothing on stderr
    return libvirt


async def call(fn: Callable[..., T], *args: Any) -> T:
    """A blocking libvirt call, in a thread (a remote host may be slow to answer)."""
    return await asyncio.to_thread(fn, *args)


async def open_connection(uri: str) -> Any:
    libvirt = binding()
    try:
        conn = await call(libvirt.open, uri)
    except libvirt.libvirtError as exc:
        raise InfraError(f"libvirt: cannot connect to {uri.split('?', 1)[0]}: "
                         f"{exc.get_error_message()}") from exc
    try:  # a host that goes silent (an SSH tunnel dropped) is noticed, not waited on
        conn.setKeepAlive(*KEEPALIVE)
    except libvirt.libvirtError:
        pass  # a local driver without keepalive
    return conn


class Host:
    """One libvirt connection, shared by a pool's instances, that comes back.

    When libvirt closes it (libvirtd restarted, the SSH to a remote host
    dropped, keepalives unanswered) every instance is told it is lost, and
    the host is reconnected with backoff; each instance then looks its domain
    up again and carries on (a domain that still runs is not restarted).
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.label = uri.split("?", 1)[0]  # for messages: the parameters can be long
        self.conn: Any = None
        self.lost = ""  # why the connection is gone, while it is
        self._opening = asyncio.Lock()  # one open at a time, shared by the instances
        self._watchers: set[Any] = set()  # instances: host_lost(why), host_back(conn)
        self._reconnect: asyncio.Task[None] | None = None
        self._closed = False

    async def connection(self) -> Any:
        """The open connection (opened on first use)."""
        if self.lost:
            raise InfraError(f"libvirt: {self.label} is lost ({self.lost}); reconnecting")
        async with self._opening:
            if self.conn is None:
                conn = await open_connection(self.uri)
                conn.registerCloseCallback(self._on_close, None)
                self.conn = conn
        return self.conn

    def watch(self, inst: Any) -> None:
        self._watchers.add(inst)

    def unwatch(self, inst: Any) -> None:
        self._watchers.discard(inst)

    def _on_close(self, conn: Any, reason: int, _: Any) -> None:
        if conn is not self.conn or self._closed:
            return
        self.conn = None
        self.lost = (f"the connection to {self.label} closed: "
                     f"{CLOSE_REASONS.get(reason, reason)}")
        log.warning("libvirt: %s", self.lost)
        for inst in list(self._watchers):
            inst.host_lost(self.lost)
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = asyncio.get_running_loop().create_task(self._come_back())

    async def _come_back(self) -> None:
        delay = BACKOFF[0]
        while not self._closed:
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF[1])
            try:
                conn = await open_connection(self.uri)
            except InfraError as exc:
                log.info("libvirt: %s still lost: %s", self.label, exc)
                continue
            if self._closed:
                await call(conn.close)
                return
            conn.registerCloseCallback(self._on_close, None)
            self.conn, self.lost = conn, ""
            log.warning("libvirt: %s is back", self.label)
            for inst in list(self._watchers):
                await inst.host_back(conn)
            return

    async def close(self) -> None:
        self._closed = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.unregisterCloseCallback()
                await call(conn.close)
            except Exception as exc:  # libvirtError: already gone
                log.debug("libvirt: closing %s: %s", self.uri, exc)


class MonitorDomain(Domain):
    """The QMP Domain's queries and commands, through libvirt's QEMU monitor
    pass-through (``virDomainQemuMonitorCommand``) instead of a socket."""

    def __init__(self, name: str, dom: Any, uri: str) -> None:
        super().__init__(name, Path(f"libvirt:{uri}"))
        self.dom = dom  # replaced when the host comes back
        self.uri = uri

    async def connect(self, wait: float = 10.0) -> None:
        return None

    async def execute(self, command: str, args: dict[str, Any] | None = None,
                      timeout: float | None = None) -> Any:
        import libvirt_qemu

        request = {"execute": command, **({"arguments": args} if args else {})}
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                raw = await call(libvirt_qemu.qemuMonitorCommand, self.dom,
                                 json.dumps(request), 0)
        except TimeoutError:
            raise DomainError(f"{self.name}: QMP {command} through libvirt did not answer "
                              f"within {limit:g}s") from None
        except Exception as exc:  # libvirtError: the domain is gone, the driver refuses
            code = getattr(exc, "get_error_code", lambda: None)()
            if code == binding().VIR_ERR_NO_SUPPORT:
                driver = self.uri.split(":", 1)[0]
                raise DomainError(f"{self.name}: QMP {command}: not available on this libvirt "
                                  f"driver ({driver}: only QEMU domains have a monitor)") from exc
            raise DomainError(f"{self.name}: QMP {command} through libvirt: {exc}") from exc
        answer = json.loads(raw)
        if "error" in answer:
            raise DomainError(f"{self.name}: QMP {command} failed: "
                              f"{answer['error'].get('desc', answer['error'])}")
        return answer.get("return")
