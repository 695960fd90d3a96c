"""The QMP Domain of one QEMU instance, on qemu.qmp (go-qemu's Domain, async).

qemu.qmp has no timeouts of its own: a stopped QEMU hangs ``connect()`` and
``execute()`` forever, so every call here has one. After a protocol fault
(EOF, malformed JSON) its client stays stuck until ``disconnect()``: the next
call disconnects and reconnects. Its default event listener keeps every event
forever: a pump drains it at once into a bounded history and bounded queues,
one per subscriber, that drop their oldest event rather than grow or block.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from qemu.qmp import ExecuteError, QMPClient, QMPError
from qemu.qmp.protocol import Runstate

from vmtui.backends.vm import VMError
from vmtui.backends.vm.qmp_types import (
    CPU,
    BlockDevice,
    BlockJob,
    BlockStats,
    Event,
    PCIDevice,
    Status,
    Version,
)
from vmtui.backends.vm.tasks import Background

log = logging.getLogger(__name__)
T = TypeVar("T")


class DomainError(VMError):
    """A QMP call failed; says which instance, which command and why."""


class DomainTimeout(DomainError):
    """QEMU did not answer in time (stopped, hung, or gone)."""


class EventSubscription:
    """A bounded queue of events for one consumer; iterate it or call get()."""

    def __init__(self, domain: Domain, maxlen: int) -> None:
        self._domain = domain
        self._queue: collections.deque[Event] = collections.deque(maxlen=maxlen)
        self._ready = asyncio.Event()
        self.dropped = 0
        self.closed = False
        self.error: DomainError | None = None

    def put(self, event: Event) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        self._ready.set()

    def fail(self, error: DomainError) -> None:
        """The event stream broke: :meth:`get` raises ``error`` once the queue is empty."""
        self.error = error
        self.close()

    async def get(self) -> Event | None:
        """The next event; None once the subscription is closed.

        Raises:
            DomainError: the domain's event stream broke (see :meth:`fail`).
        """
        while not self._queue:
            if self.error is not None:
                raise self.error
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    async def wait_for(self, names: set[str], timeout: float,
                       match: Callable[[Event], bool] = lambda e: True) -> Event:
        """The next event named in ``names`` that ``match`` accepts."""
        async def wait() -> Event:
            while (event := await self.get()) is not None:
                if event.name in names and match(event):
                    return event
            raise DomainError(f"{self._domain.name}: QMP closed while waiting for "
                              f"{', '.join(sorted(names))}")
        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise DomainTimeout(f"{self._domain.name}: no {'/'.join(sorted(names))} event "
                                f"within {timeout:g}s") from None

    def close(self) -> None:
        self.closed = True
        self._ready.set()
        self._domain._subs.discard(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while (event := await self.get()) is not None:
            yield event

    def __enter__(self) -> EventSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Domain:
    """One QMP connection to one QEMU, owned by the backend.

    Args:
        name: the instance name, for messages.
        socket: the QMP unix socket.
        timeout: seconds allowed for each call (and for connecting).
        history: how many recent events are kept for inspection.
    """

    def __init__(self, name: str, socket: Path, *, timeout: float = 5.0,
                 history: int = 1000) -> None:
        self.name = name
        self.socket = socket
        self.timeout = timeout
        self.history: collections.deque[Event] = collections.deque(maxlen=history)
        self._client: QMPClient | None = None
        self._pump: asyncio.Task[None] | None = None
        self._subs: set[EventSubscription] = set()
        self._lock = asyncio.Lock()
        self._commands: frozenset[str] | None = None
        self._closed = False
        self._tasks = Background(name, on_failure=self._pump_failed)

    # -- connection ------------------------------------------------------------

    async def connect(self, wait: float = 10.0) -> None:
        """Connect, retrying until the socket exists and QEMU greets us."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            try:
                if not self.socket.exists():  # QEMU has not created it yet
                    raise FileNotFoundError(f"no socket {self.socket} yet")
                await self._connect_once()
                return
            except (OSError, QMPError, TimeoutError, DomainTimeout) as exc:
                if loop.time() >= deadline:
                    raise DomainTimeout(f"{self.name}: QMP at {self.socket} did not answer "
                                        f"within {wait:g}s: {exc}") from exc
                await asyncio.sleep(0.05)

    async def _connect_once(self) -> None:
        client = QMPClient(self.name)
        try:
            await asyncio.wait_for(client.connect(str(self.socket)), self.timeout)
        except TimeoutError:
            await self._disconnect(client)
            raise DomainTimeout(self._no_greeting(self.timeout)) from None
        except BaseException:
            await self._disconnect(client)
            raise
        self._client = client
        self._pump = self._tasks.spawn(self._drain(client), "qmp-events")

    def _no_greeting(self, limit: float) -> str:
        return (f"{self.name}: no QMP greeting on {self.socket} within {limit:g}s: QEMU "
                "serves one client per QMP socket, so another client holding it looks like "
                "this (leave vmtui's socket to vmtui; give tools their own with "
                "vm.qmp_sockets), as does a stopped or hung QEMU")

    def _pump_failed(self, _: str, exc: BaseException) -> None:
        # Events would stop for good: every subscriber learns it, and the next
        # call reconnects (which starts a new pump).
        self._pump = None
        error = DomainError(f"{self.name}: QMP event stream broke: {exc!r}")
        for sub in list(self._subs):
            sub.fail(error)

    async def _disconnect(self, client: QMPClient) -> None:
        # disconnect() re-raises whatever broke the connection (any exception,
        # per qemu.qmp's docs): the connection is gone either way.
        try:
            await asyncio.wait_for(client.disconnect(), 1)
        except Exception as exc:
            log.debug("%s: QMP disconnect: %r", self.name, exc)

    async def _drain(self, client: QMPClient) -> None:
        # Empties qemu.qmp's unbounded default listener as fast as events come.
        while True:
            raw = await client.events.get()
            try:
                event = Event.parse(raw)
            except (KeyError, TypeError, ValueError):
                continue
            self.history.append(event)
            for sub in list(self._subs):
                sub.put(event)

    async def _drop(self) -> None:
        client, self._client = self._client, None
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
        if client is not None:
            await self._disconnect(client)

    async def _ready(self) -> QMPClient:
        if self._closed:
            raise DomainError(f"{self.name}: QMP is closed")
        client = self._client
        if client is None or client.runstate != Runstate.RUNNING or self._pump is None:
            # A protocol fault leaves the client stuck until disconnect().
            await self._drop()
            try:
                await self._connect_once()
            except DomainTimeout:
                raise
            except (OSError, QMPError, TimeoutError) as exc:
                raise DomainError(f"{self.name}: cannot reconnect to QMP: {exc}") from exc
            assert self._client is not None
            client = self._client
        return client

    async def close(self) -> None:
        """Disconnect and end every subscription."""
        self._closed = True
        await self._drop()
        for sub in list(self._subs):
            sub.close()

    # -- calls -----------------------------------------------------------------

    async def execute(self, command: str, args: dict[str, Any] | None = None,
                      timeout: float | None = None) -> Any:
        """Run a QMP command and return its answer (raw execute).

        Raises:
            DomainTimeout: no answer within the timeout.
            DomainError: QEMU refused it, or the connection failed.
        """
        limit = self.timeout if timeout is None else timeout
        connected = False
        try:
            async with asyncio.timeout(limit):
                async with self._lock:  # one reconnect at a time; calls may overlap
                    client = await self._ready()
                connected = True
                return await client.execute(command, args)
        except TimeoutError:
            if not connected:
                raise DomainTimeout(self._no_greeting(limit)) from None
            raise DomainTimeout(f"{self.name}: QMP {command} did not answer within {limit:g}s "
                                "(is QEMU stopped or hung?)") from None
        except ExecuteError as exc:
            raise DomainError(f"{self.name}: QMP {command} failed: {exc.error.error.desc}") from exc
        except (QMPError, OSError, EOFError) as exc:
            await self._drop()
            raise DomainError(f"{self.name}: QMP {command}: connection failed: {exc}") from exc

    async def _typed(self, command: str, parse: Callable[[Any], T],
                     args: dict[str, Any] | None = None) -> T:
        return parse(await self.execute(command, args))

    def status(self) -> Awaitable[Status]:
        return self._typed("query-status", Status.parse)

    def version(self) -> Awaitable[Version]:
        return self._typed("query-version", Version.parse)

    async def commands(self) -> frozenset[str]:
        """Every command this QEMU supports (asked once)."""
        if self._commands is None:
            raw = await self.execute("query-commands")
            self._commands = frozenset(str(c["name"]) for c in raw)
        return self._commands

    async def supported(self, command: str) -> bool:
        return command in await self.commands()

    def block_devices(self) -> Awaitable[list[BlockDevice]]:
        return self._typed("query-block", lambda r: [BlockDevice.parse(d) for d in r])

    def block_stats(self) -> Awaitable[list[BlockStats]]:
        return self._typed("query-blockstats", lambda r: [BlockStats.parse(d) for d in r])

    def block_jobs(self) -> Awaitable[list[BlockJob]]:
        return self._typed("query-block-jobs", lambda r: [BlockJob.parse(d) for d in r])

    def pci_devices(self) -> Awaitable[list[PCIDevice]]:
        return self._typed("query-pci", PCIDevice.walk)

    def cpus(self) -> Awaitable[list[CPU]]:
        return self._typed("query-cpus-fast", lambda r: [CPU.parse(c) for c in r])

    async def hmp(self, command: str, cpu_index: int | None = None) -> str:
        """A human monitor command (``info registers``), on one vCPU if given."""
        args: dict[str, Any] = {"command-line": command}
        if cpu_index is not None:
            args["cpu-index"] = cpu_index
        return str(await self.execute("human-monitor-command", args))

    async def screendump(self, path: Path) -> Path:
        """Save the display as a PNG (the guest needs a display device: vga)."""
        await self.execute("screendump", {"filename": str(path), "format": "png"})
        return path

    async def system_powerdown(self) -> None:
        await self.execute("system_powerdown")

    async def system_reset(self) -> None:
        await self.execute("system_reset")

    async def stop(self) -> None:
        await self.execute("stop")

    async def cont(self) -> None:
        await self.execute("cont")

    async def inject_nmi(self) -> None:
        await self.execute("inject-nmi")

    async def send_keys(self, *qcodes: str, hold_ms: int = 100) -> None:
        """Press ``qcodes`` together (``alt``, ``sysrq``, ``t``)."""
        keys = [{"type": "qcode", "data": k} for k in qcodes]
        await self.execute("send-key", {"keys": keys, "hold-time": hold_ms})

    # -- events ----------------------------------------------------------------

    def subscribe(self, maxlen: int = 256) -> EventSubscription:
        """Events from now on, in a queue that drops its oldest when full."""
        sub = EventSubscription(self, maxlen)
        self._subs.add(sub)
        return sub

    # -- block jobs, each waiting for its event ----------------------------------

    async def snapshot(self, device: str, snapshot_file: Path, fmt: str = "qcow2") -> None:
        """Make ``snapshot_file`` the new active layer of ``device`` (synchronous)."""
        await self.execute("blockdev-snapshot-sync", {
            "device": device, "snapshot-file": str(snapshot_file), "format": fmt})

    async def _job(self, command: str, args: dict[str, Any], job_id: str,
                   timeout: float) -> Event:
        with self.subscribe() as sub:
            await self.execute(command, args)
            ready = await sub.wait_for({"BLOCK_JOB_READY", "BLOCK_JOB_COMPLETED",
                                        "BLOCK_JOB_ERROR", "BLOCK_JOB_CANCELLED"}, timeout,
                                       lambda e: e.data.get("device") == job_id)
            if ready.name == "BLOCK_JOB_READY":
                await self.execute("block-job-complete", {"device": job_id})
                ready = await sub.wait_for({"BLOCK_JOB_COMPLETED", "BLOCK_JOB_ERROR"},
                                           timeout, lambda e: e.data.get("device") == job_id)
        if ready.name != "BLOCK_JOB_COMPLETED" or ready.data.get("error"):
            why = ready.data.get("error", ready.name)
            raise DomainError(f"{self.name}: block job {job_id} ({command}) failed: {why}")
        return ready

    async def commit(self, device: str, job_id: str = "commit0",
                     timeout: float = 60.0) -> Event:
        """Commit the active layer down into its backing file, then pivot back."""
        return await self._job("block-commit", {"device": device, "job-id": job_id},
                               job_id, timeout)

    async def mirror(self, device: str, target: Path, job_id: str = "mirror0",
                     fmt: str = "qcow2", timeout: float = 60.0) -> Event:
        """Copy ``device`` to ``target`` and switch to it once in sync."""
        return await self._job("drive-mirror", {
            "device": device, "target": str(target), "format": fmt, "sync": "full",
            "job-id": job_id}, job_id, timeout)

    async def cancel_job(self, job_id: str, timeout: float = 30.0) -> Event:
        with self.subscribe() as sub:
            await self.execute("block-job-cancel", {"device": job_id, "force": True})
            return await sub.wait_for({"BLOCK_JOB_CANCELLED", "BLOCK_JOB_COMPLETED"},
                                      timeout, lambda e: e.data.get("device") == job_id)
