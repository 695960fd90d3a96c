"""RemoteControl: a :class:`~vmtui.backends.fleet.control.Control` over a
daemon's JSON API (docs/api.md).

The queries answer from a mirror kept here: pool snapshots pushed by the
stream (a WebSocket), the console the front reads (subscribed on the stream,
its chunks kept in a :class:`ConsoleMirror` and acknowledged once stored), the
crash and incident lists (read again with a GET when the stream says they
changed), the header's totals (read with each pool snapshot for the sets of
instances asked). The coroutines are REST calls. When the daemon goes away,
:meth:`connection` says so (the front shows it; what it shows is the last
state seen) and the client reconnects with backoff, subscribes again and reads
everything afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from vmtui.backends.fleet.control import ConsoleChunk, PoolInfo
from vmtui.backends.fleet.records import InstanceSnapshot, PoolTotals
from vmtui.backends.fleet.wire import from_json
from vmtui.backends.monitor.crashes import Crash
from vmtui.backends.monitor.evidence import Incident
from vmtui.remote.address import Address
from vmtui.remote.errors import Incompatible, NotFound, Refused, Unreachable
from vmtui.remote.http import Api
from vmtui.remote.lists import Lists
from vmtui.remote.mirror import ConsoleMirror, Consoles, chunk_of, chunk_of_columns
from vmtui.remote.rest import RestCalls
from vmtui.remote.snapshots import snapshots_of
from vmtui.remote.totals import Totals

log = logging.getLogger(__name__)

API_VERSION = 1
ACK = json.dumps({"op": "ack"})
WINDOW = 4  # console chunks the daemon may send ahead of our acks (its MAX_WINDOW)
PREFETCH = 8000  # console lines held here that the front has not read: past it, acks wait


class RemoteControl(RestCalls):
    """The pools of the daemon at ``address``.

    Call :meth:`connect` first (it fails at once when no daemon answers);
    :meth:`close` closes the connection only: the daemon and its VMs go on.

    Args:
        address: where the daemon listens.
        token: the bearer token (TCP).
        backoff: the first and the longest wait between reconnection attempts (seconds).
    """

    def __init__(self, address: Address, token: str | None = None, *,
                 backoff: tuple[float, float] = (0.25, 5.0)) -> None:
        self.address = address
        self.api = Api(address, token)
        self.backoff = backoff
        self.read_only = False
        self.daemon_version = ""
        self.reconnects = 0  # connections made again after the first
        self._pools: list[PoolInfo] = []
        self._snapshots: list[InstanceSnapshot] = []
        self._by_name: dict[str, InstanceSnapshot] = {}
        self._lists = Lists(self.api)  # crashes and incidents
        self._totals = Totals(self.api)
        self._consoles = Consoles()  # and the daemon run they mirror
        self._watching: str | None = None  # the console subscribed on the stream
        self._asked = 0  # the daemon cursor it was subscribed from
        self._read_to = 0  # the front's cursor on the watched console (local numbering)
        self._held = 0  # console chunks stored but not acked: the front is behind
        self._news: Callable[[], None] | None = None  # called when a chunk brought lines
        self._outbox: asyncio.Queue[dict[str, Any]] | None = None
        self._busy = False
        self._told = False  # the busy state the daemon's stream was told
        self._status = "connecting"
        self._live = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # -- connection -----------------------------------------------------------

    async def connect(self) -> None:
        """Read everything once and start the stream (reconnecting by itself).

        Raises:
            Unreachable: no daemon answers at the address.
            Refused: it refused the token.
            Incompatible: it speaks another API version.
        """
        await self._refresh()
        self._task = asyncio.create_task(self._run(), name=f"stream {self.address}")

    async def wait_live(self, timeout: float) -> None:
        """Wait until the stream is connected and everything read (TimeoutError if not)."""
        await asyncio.wait_for(self._live.wait(), timeout)

    def connection(self) -> str:
        """"" while the daemon's state is live here; else what is wrong."""
        return self._status

    async def _run(self) -> None:
        """Stream; on any failure say why and connect again (another API: stop)."""
        delay = self.backoff[0]
        first = True
        try:
            while not self._closed:
                try:
                    await self._stream(first)
                    reason = "the daemon closed the connection"
                except asyncio.CancelledError:
                    raise
                except Incompatible as exc:
                    self._down(str(exc))  # no point trying again: this client cannot read it
                    return
                except (Unreachable, Refused) as exc:
                    reason = str(exc)
                except Exception as exc:  # whatever it was, the state here is stale now
                    log.debug("stream", exc_info=True)
                    reason = f"{type(exc).__name__}: {exc}"
                if self._closed:
                    return
                if self._status == "":  # it was live: try again soon
                    delay = self.backoff[0]
                first = False
                self._down(f"{reason}; reconnecting")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff[1])
        finally:
            if self._status == "" and not self._closed:  # never stale data shown as live
                self._down("the connection task ended")

    def _down(self, why: str) -> None:
        self._live.clear()
        self._status = f"disconnected from {self.address}: {why}"
        log.info("%s", self._status)

    async def _stream(self, first: bool) -> None:
        ws = await self.api.websocket()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sender = asyncio.create_task(self._sender(ws, outbox))
        reader = asyncio.create_task(self._reader(ws))
        self._outbox = outbox
        self._held = 0  # acks owed to the last connection's daemon stream die with it
        self._told = False  # a new stream is not busy
        try:
            self._send({"op": "window", "chunks": WINDOW})
            self._send({"op": "pool"})
            if not first:
                await self._refresh()
                self.reconnects += 1
            if self._watching is not None:
                self._subscribe(self._watching)
            self._status = ""
            self._live.set()
            await reader
        finally:
            self._outbox = None
            for task in (sender, reader):
                task.cancel()
            await asyncio.gather(sender, reader, return_exceptions=True)
            await ws.close()

    async def _sender(self, ws: aiohttp.ClientWebSocketResponse,
                      outbox: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            await ws.send_json(await outbox.get())

    def _send(self, message: dict[str, Any]) -> None:
        if self._outbox is not None:
            self._outbox.put_nowait(message)

    async def _reader(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                if not self._receive(msg.json()):
                    continue
                if self._behind():
                    self._held += 1  # acked when the front reads (console_since)
                else:
                    # At once, not through the outbox: the daemon's window
                    # refills only then.
                    await ws.send_str(ACK)
            elif msg.type is aiohttp.WSMsgType.ERROR:
                raise Unreachable(f"{self.address}: {ws.exception()}")

    def _behind(self) -> bool:
        """Whether the front has PREFETCH lines or more here still unread."""
        mirror = self._consoles.get(self._watching or "")
        return mirror is not None and mirror.next - self._read_to >= PREFETCH

    def _release(self) -> None:
        """The front read: the acks held back go (the daemon may send again)."""
        while self._held and not self._behind():
            self._held -= 1
            self._send({"op": "ack"})

    def _receive(self, message: Any) -> bool:
        """Take one stream message; whether it was a console chunk (to acknowledge).
        One this client cannot read is a ValueError: the connection is made again."""
        try:
            return self._take(message)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            kind = message.get("type") if isinstance(message, dict) else None
            raise ValueError(f"a {kind!r} stream message this client cannot read: "
                             f"{type(exc).__name__}: {exc}") from exc

    def _take(self, message: Any) -> bool:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind in ("pool", "changes") and self._consoles.follow(message.get("run")):
            if self._watching is not None and self._live.is_set():  # else _stream subscribes
                self._subscribe(self._watching)
        if kind == "pool":
            self._take_snapshots(snapshots_of(message["snapshots"]))
        elif kind == "console":
            chunk = (chunk_of_columns(message["columns"]) if "columns" in message
                     else chunk_of(message["chunk"]))
            self._take_console(str(message["name"]), chunk)
            return True
        elif kind == "changes":
            self._lists.read()
        elif kind == "error":
            log.warning("%s: %s", self.address, message.get("error"))
        return False

    # -- the mirror ---------------------------------------------------------------

    async def _refresh(self) -> None:
        version, pools, snapshots, crashes, incidents = await asyncio.gather(
            self.api.call("GET", "/version"), self.api.call("GET", "/pools"),
            self.api.call("GET", "/instances"), self.api.call("GET", "/crashes"),
            self.api.call("GET", "/incidents"))
        if not isinstance(version, dict) or version.get("api") != API_VERSION:
            spoken = version.get("api") if isinstance(version, dict) else version
            raise Incompatible(f"the daemon speaks API v{spoken}; this client v{API_VERSION} "
                               "(not reconnecting)")
        self.read_only = bool(version.get("read_only"))
        self.daemon_version = str(version.get("vmtui", ""))
        self._consoles.follow(version.get("run"))  # another run: its consoles start over
        self._pools = from_json(pools, list[PoolInfo])
        self._take_snapshots(snapshots_of(snapshots))
        self._lists.take(crashes, incidents)

    def _take_snapshots(self, snapshots: list[InstanceSnapshot]) -> None:
        self._snapshots = snapshots
        self._by_name = {s.name: s for s in snapshots}
        self._totals.refresh()

    def _mirror(self, name: str) -> ConsoleMirror:
        mirror = self._consoles.get(name)
        if mirror is None:
            pool = self._snap(name).pool
            size = next((p.console_lines for p in self._pools if p.name == pool),
                        max((p.console_lines for p in self._pools), default=10000))
            mirror = self._consoles[name] = ConsoleMirror(size)
        return mirror

    def _watch(self, name: str) -> ConsoleMirror:
        mirror = self._mirror(name)
        if self._watching != name:
            self._watching = name
            self._subscribe(name)
        return mirror

    def _subscribe(self, name: str) -> None:
        mirror = self._mirror(name)
        snap = self._by_name.get(name)
        if snap is not None and snap.lines < mirror.server_cursor():
            mirror.renumber()  # the daemon's ring is behind ours: it started over
        self._asked = mirror.server_cursor()
        # The chunks held unacked are stored: ack them (the daemon counts acks
        # in order, the old subscription's first), then the new one starts.
        for _ in range(self._held):
            self._send({"op": "ack"})
        self._held = 0
        self._send({"op": "console", "name": name, "cursor": self._asked, "form": "columns"})
        self._tell_busy()

    def _take_console(self, name: str, chunk: ConsoleChunk) -> None:
        # A chunk of a console no longer watched is late: the next
        # subscription goes on from what the mirror holds.
        if name != self._watching:
            return
        mirror = self._mirror(name)
        prompt = mirror.partial
        if not mirror.add(chunk, self._asked):
            self._subscribe(name)  # its ring started over: again from its first line
        elif self._news is not None and (chunk.lines or chunk.missed
                                         or chunk.partial != prompt):
            try:
                self._news()
            except Exception:  # the front's trouble must not end the stream
                log.exception("console news")

    def on_console_news(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` whenever a chunk brings the watched console new
        lines or a new unfinished line (the bridge's console feed: the front
        reads them at once, not at its next poll, before the mirror's ring
        moves past them)."""
        self._news = callback

    def _snap(self, name: str) -> InstanceSnapshot:
        snap = self._by_name.get(name)
        if snap is None:
            raise NotFound(f"no instance named {name!r}")
        return snap

    # -- queries: from the mirror -------------------------------------------------

    def pools(self) -> list[PoolInfo]:
        return list(self._pools)

    def snapshot(self) -> list[InstanceSnapshot]:
        return list(self._snapshots)

    def pool_snapshot(self, pool: str) -> list[InstanceSnapshot]:
        if all(p.name != pool for p in self._pools):
            raise NotFound(f"no pool named {pool!r}")
        return [s for s in self._snapshots if s.pool == pool]

    @property
    def run(self) -> str:
        """The id of the daemon run mirrored ("" before the first answer)."""
        return self._consoles.run

    def totals(self, snapshots: list[InstanceSnapshot]) -> PoolTotals:
        return self._totals.get(snapshots)

    def is_up(self, name: str) -> bool:
        return self._snap(name).uptime is not None

    def console_start(self, name: str) -> int:
        return self._watch(name).start()

    def console_since(self, name: str, cursor: int) -> ConsoleChunk:
        chunk = self._watch(name).since(cursor)
        self._read_to = chunk.next_cursor
        self._release()
        return chunk

    def crashes(self) -> list[Crash]:
        return list(self._lists.crashes)

    def incidents(self, instance: str | None = None) -> list[Incident]:
        return [i for i in self._lists.incidents if instance in (None, i.instance)]

    def changes(self) -> int:
        return self._lists.changes

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._tell_busy()

    def _tell_busy(self) -> None:
        """Tell the daemon while a console is watched (busy paces consoles only)."""
        if self._watching is not None and self._busy != self._told:
            self._told = self._busy
            self._send({"op": "busy", "busy": self._busy})

    # -- lifetime ---------------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to boot: the daemon runs its pools (connects if not yet)."""
        if self._task is None:
            await self.connect()

    async def close(self) -> None:
        """Close the connection only: the daemon and every VM go on."""
        self._closed = True
        tasks = [t for t in (self._task, self._lists.task, self._totals.task) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.api.close()
        self._status = f"closed ({time.strftime('%H:%M:%S')})"
        self._live.clear()

