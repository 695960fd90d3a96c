"""libvirt's Python binding on asyncio: its events dispatched on the running
loop (libvirtaio), its blocking calls in a thread, and QMP pass-through."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from vmtui.backends.base import InfraError
from vmtui.backends.qemu.domain import Domain, DomainError

T = TypeVar("T")

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
        return await call(libvirt.open, uri)
    except libvirt.libvirtError as exc:
        raise InfraError(f"libvirt: cannot connect to {uri}: {exc.get_error_message()}") from exc


class MonitorDomain(Domain):
    """The QMP Domain's queries and commands, through libvirt's QEMU monitor
    pass-through (``virDomainQemuMonitorCommand``) instead of a socket."""

    def __init__(self, name: str, dom: Any, uri: str) -> None:
        super().__init__(name, Path(f"libvirt:{uri}"))
        self._dom = dom

    async def connect(self, wait: float = 10.0) -> None:
        return None

    async def execute(self, command: str, args: dict[str, Any] | None = None,
                      timeout: float | None = None) -> Any:
        import libvirt_qemu

        request = {"execute": command, **({"arguments": args} if args else {})}
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                raw = await call(libvirt_qemu.qemuMonitorCommand, self._dom,
                                 json.dumps(request), 0)
        except TimeoutError:
            raise DomainError(f"{self.name}: QMP {command} through libvirt did not answer "
                              f"within {limit:g}s") from None
        except Exception as exc:  # libvirtError: the domain is gone, the driver refuses
            raise DomainError(f"{self.name}: QMP {command} through libvirt: {exc}") from exc
        answer = json.loads(raw)
        if "error" in answer:
            raise DomainError(f"{self.name}: QMP {command} failed: "
                              f"{answer['error'].get('desc', answer['error'])}")
        return answer.get("return")
