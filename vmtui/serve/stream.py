"""GET /api/v1/stream: pool snapshots, console chunks and change counts over a
WebSocket, with flow control.

One :class:`Hub` per daemon reads the shared instance list (``listing``) and
the change count twice a second, only when someone listens, and wakes the
sockets when either moved; the pool message is the list's encoding, made once
for every reader. Each socket has one writer (the only sender on it): it sends
console chunks while the client's window has room (``window`` chunks sent and
not yet acked; 1 unless the client asks for more, up to ``MAX_WINDOW``); lines
that came meanwhile wait in the ring and go as one chunk, so the daemon holds
at most a window of chunks per socket. The writer is woken when lines reach
the ring (its listener: no poll interval between a line and its chunk; the
wake-ups of one burst are one, an event set again before the writer ran), and
reads every ``CONSOLE_INTERVAL`` besides for the unfinished last line (a
prompt) that no store announces. Acks are counted in order: those owed to a
replaced subscription's chunks (``stale``) never open the new one's window. A
send that cannot finish (a client that stopped reading) closes the socket
after ``SEND_TIMEOUT``; aiohttp's heartbeat closes a silent peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from vmtui.backends.console.ring import ConsoleRing
from vmtui.backends.fleet.control import ConsoleChunk, Control
from vmtui.backends.fleet.local import LocalControl
from vmtui.serve.guard import READ_ONLY, error
from vmtui.serve.listing import LISTING, Listing
from vmtui.serve.state import CONTROL, MAX_STREAMS, RESERVED_STREAMS, RUN, STREAMS, log

POOL_INTERVAL = 0.5  # seconds between pool reads (at most ~2 snapshots a second)
CONSOLE_INTERVAL = 0.05  # seconds between console reads while a chunk may go
FLOOD_INTERVAL = 0.01  # ... after a read that found lines, with no ring to listen to
MAX_WINDOW = 4  # console chunks a client may have unacknowledged at once
CHUNK_LINES = 2000  # lines in one console chunk at most (~200 KB: ~2 ms to encode)
BUSY_INTERVAL = 0.25  # ... while the client says it falls behind
SEND_TIMEOUT = 30.0  # a send stuck this long: the client stopped reading
HEARTBEAT = 20.0  # ping every 20 s; no pong within 10 s closes the socket
MAX_MESSAGE = 64 * 1024  # a client message is a small JSON object
MAX_ERRORS = 8  # error messages waiting for the writer; more are dropped
LAG_TICK = 0.02  # seconds between the daemon's event-loop lag checks (as the app's)
LAG_LIMIT = 0.01  # a check this late: the loop falls behind


class Hub:
    """The shared half of every stream: pool snapshots and the change count."""

    def __init__(self, control: Control, listing: Listing, run: str = "") -> None:
        self.control = control
        self.listing = listing
        self.run = json.dumps(run)  # every pool and changes message names the daemon's run
        self.sockets: set[Stream] = set()
        self.pool_text = ""  # the last pool message, encoded once for all
        self.pool_seq = 0  # grows when pool_text changed
        self._listing_seq = -1  # the listing's seq pool_text was made of
        self.changes = control.changes()
        self._task: asyncio.Task[None] | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self.lagging = False  # the daemon's loop fell behind at the last check
        self.busy = False  # what the Control was told (set_busy)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run())
        self._lag_task = loop.create_task(self._watch_lag())

    async def close(self) -> None:
        for task in (self._task, self._lag_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _watch_lag(self) -> None:
        """The daemon's loop late: console sources back off (the Control's
        ``set_busy``, as the in-process app does when its loop lags), so
        requests and streams get their turn in a flood."""
        loop = asyncio.get_running_loop()
        mark = loop.time()
        while True:
            await asyncio.sleep(LAG_TICK)
            now = loop.time()
            self.lagging, mark = now - mark - LAG_TICK > LAG_LIMIT, now
            self.pace()

    def pace(self) -> None:
        """Tell the Control to slow its console sources while the daemon's loop
        lags or every client watching a console says it falls behind (a
        read-only client's word slows its own socket, never the consoles)."""
        watchers = [s for s in self.sockets if s.console is not None]
        busy = self.lagging or (bool(watchers) and all(s.busy and not s.read_only
                                                       for s in watchers))
        if busy != self.busy:
            self.busy = busy
            self.control.set_busy(busy)

    async def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # a bad tick must not end every stream's updates
                log.exception("stream hub")
            await asyncio.sleep(POOL_INTERVAL)

    def tick(self) -> None:
        """Read what changed; wake the sockets it concerns."""
        if not self.sockets:
            return
        moved = False
        changes = self.control.changes()
        if changes != self.changes:
            self.changes, moved = changes, True
        if any(s.pool for s in self.sockets):
            snapshots = self.listing.text()
            if self.listing.seq != self._listing_seq:
                self._listing_seq = self.listing.seq
                self.pool_text = ('{"type": "pool", "run": ' + self.run + ', "snapshots": '
                                  + snapshots + "}")
                self.pool_seq, moved = self.pool_seq + 1, True
        if moved:
            for sock in self.sockets:
                sock.wake.set()


class Stream:
    """One client's subscriptions, and the writer that serves them."""

    def __init__(self, ws: web.WebSocketResponse, hub: Hub, *, read_only: bool = False) -> None:
        self.ws, self.hub = ws, hub
        self.read_only = read_only  # came with the read-only token
        self.wake = asyncio.Event()
        self.pool = False
        self.console: str | None = None
        self.columns = False  # console chunks in the columns form (see console_message)
        self.cursor = 0
        self.first = False  # the subscription's first chunk goes even when empty
        self.partial = ""
        self.window = 1  # console chunks that may be out unacknowledged
        self.unacked = 0  # console chunks out, not yet acknowledged
        self.stale = 0  # ... of them, sent for a subscription since replaced
        self.ring: ConsoleRing | None = None  # the watched console's ring, listened to
        self.flooding = False  # the last console read found lines
        self.more = False  # the last chunk left lines behind (CHUNK_LINES): read again now
        self.busy = False
        self.sent_pool = 0
        self.sent_changes: int | None = None
        self.errors: list[str] = []

    # -- the client's messages ----------------------------------------------------

    def receive(self, text: str) -> None:
        """Take one client message; a bad one earns an error message, nothing else."""
        try:
            self._op(text)
        except _OpError as exc:
            self.fail(str(exc), exc.kind)
        self.wake.set()

    def fail(self, message: str, kind: str = "BadRequest") -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(json.dumps({"type": "error",
                                           "error": {"type": kind, "message": message}}))
        self.wake.set()

    def _op(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError as exc:
            raise _OpError(f"the message is not JSON: {exc}") from None
        if not isinstance(msg, dict):
            raise _OpError("a message is a JSON object with an 'op'")
        op = msg.get("op")
        fields = _OPS.get(op) if isinstance(op, str) else None
        if fields is None:
            raise _OpError(f"unknown op {op!r} (one of {', '.join(_OPS)})")
        unknown = sorted(set(msg) - {"op"} - set(fields))
        if unknown:
            raise _OpError(f"op {op!r}: unknown field {unknown[0]!r}")
        if op == "pool":
            self.pool, self.sent_pool = True, -1
            self.hub.tick()
        elif op == "ack":
            # A client acks in the order chunks came: the oldest go first.
            if self.stale:
                self.stale -= 1
            else:
                self.unacked = max(0, self.unacked - 1)
        elif op == "window":
            chunks = msg.get("chunks")
            if (not isinstance(chunks, int) or isinstance(chunks, bool)
                    or not 1 <= chunks <= MAX_WINDOW):
                raise _OpError(f"op 'window': field 'chunks' must be a whole number "
                               f"from 1 to {MAX_WINDOW}")
            self.window = chunks
        elif op == "busy":
            busy = msg.get("busy")
            if not isinstance(busy, bool):
                raise _OpError("op 'busy': field 'busy' must be a boolean")
            self.busy = busy
            self.hub.pace()
        else:
            self._subscribe(msg.get("name"), msg.get("cursor"), msg.get("form", "rows"))

    def _subscribe(self, name: Any, cursor: Any, form: Any) -> None:
        if not isinstance(name, str):
            raise _OpError("op 'console': field 'name' must be a string")
        if form not in ("rows", "columns"):
            raise _OpError("op 'console': field 'form' must be 'rows' or 'columns'")
        if cursor is not None and (not isinstance(cursor, int) or isinstance(cursor, bool)
                                   or cursor < 0):
            raise _OpError("op 'console': field 'cursor' must be a whole number >= 0 or null")
        try:
            start = self.hub.control.console_start(name) if cursor is None else cursor
        except KeyError:
            raise _OpError(f"no instance named {name!r}", "NotFound") from None
        self.console, self.cursor, self.first = name, start, True
        self.columns = form == "columns"
        # The first chunk goes at once; the old one's chunks still out take
        # the acks that come first, never the new window's.
        self.partial, self.stale, self.unacked = "", self.stale + self.unacked, 0
        self._listen(ring_of(self.hub.control, name))

    def _listen(self, ring: ConsoleRing | None) -> None:
        if self.ring is not None:
            self.ring.unlisten(self._news)
        self.ring = ring
        if ring is not None:
            ring.listen(self._news)

    def _news(self) -> None:
        """Lines reached the watched ring: wake the writer if a chunk may go
        (a busy client keeps its slower pace)."""
        if not self.busy and self._room():
            self.wake.set()

    def _room(self) -> bool:
        return self.console is not None and self.unacked + self.stale < self.window

    def close(self) -> None:
        """The socket is gone: stop listening."""
        self._listen(None)

    # -- the writer ---------------------------------------------------------------

    async def write(self) -> None:
        """Send what is due until the socket closes."""
        while not self.ws.closed:
            self.wake.clear()
            for text in self.errors:
                await self._send(text)
            self.errors.clear()
            if self.sent_changes != self.hub.changes:
                self.sent_changes = self.hub.changes
                await self._send(f'{{"type": "changes", "changes": {int(self.sent_changes)}, '
                                 f'"run": {self.hub.run}}}')
            if self.pool and self.sent_pool != self.hub.pool_seq and self.hub.pool_text:
                self.sent_pool = self.hub.pool_seq
                await self._send(self.hub.pool_text)
            polling = self.console is not None and (self.first or self._room())
            if polling:
                await self._console()
            interval = (None if not polling else BUSY_INTERVAL if self.busy
                        else 0 if self.more
                        else FLOOD_INTERVAL if self.flooding and self.ring is None
                        else CONSOLE_INTERVAL)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self.wake.wait()

    async def _console(self) -> None:
        assert self.console is not None
        try:
            chunk = self.hub.control.console_since(self.console, self.cursor)
        except KeyError:
            self.fail(f"no instance named {self.console!r}", "NotFound")
            self.console = None
            self._listen(None)
            return
        self.flooding = bool(chunk.lines)
        self.more = len(chunk.lines) > CHUNK_LINES
        if self.more:  # the oldest first; the unfinished line goes with the last piece
            chunk = ConsoleChunk(chunk.lines[:CHUNK_LINES], chunk.missed,
                                 chunk.lines[CHUNK_LINES][0], self.partial)
        if not (self.first or chunk.lines or chunk.missed or chunk.partial != self.partial):
            return
        self.first, self.partial = False, chunk.partial
        self.cursor, self.unacked = chunk.next_cursor, self.unacked + 1
        await self._send(console_message(self.console, chunk, columns=self.columns))

    async def _send(self, text: str) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await self.ws.send_str(text)
        except TimeoutError:
            log.info("stream: a client stopped reading; closing its socket")
            await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too slow")


def ring_of(control: Control, name: str) -> ConsoleRing | None:
    """The ring of ``name`` when the daemon holds it (a LocalControl), to listen to."""
    if isinstance(control, LocalControl):
        with contextlib.suppress(KeyError):
            return control.fleets.console(name)
    return None


def console_message(name: str, chunk: ConsoleChunk, *, columns: bool = False) -> str:
    """The stream's console message.

    Rows (the default): ``"chunk"`` is ``wire.to_json`` of the chunk, made ~10x
    faster (a line is a tuple of int, str, str, float: json.dumps writes it as
    the list to_json would make). Columns: ``"columns"`` holds the lines' four
    fields as four lists (``seqs``, ``sources``, ``texts``, ``at``) beside
    ``missed``, ``next_cursor`` and ``partial``: no list per line to build on
    either side, and a client zips them back into lines in C.
    """
    if not columns:
        return json.dumps({"type": "console", "name": name, "chunk": {
            "lines": chunk.lines, "missed": chunk.missed, "next_cursor": chunk.next_cursor,
            "partial": chunk.partial}})
    # Lines are 4-tuples: the transpose is 4 columns of one length.
    seqs, sources, texts, ats = (zip(*chunk.lines, strict=True) if chunk.lines
                                 else ((), (), (), ()))
    return json.dumps({"type": "console", "name": name, "columns": {
        "seqs": seqs, "sources": sources, "texts": texts, "at": ats,
        "missed": chunk.missed, "next_cursor": chunk.next_cursor, "partial": chunk.partial}})


class _OpError(Exception):
    def __init__(self, message: str, kind: str = "BadRequest") -> None:
        super().__init__(message)
        self.kind = kind


_OPS: dict[str, tuple[str, ...]] = {
    "pool": (), "console": ("name", "cursor", "form"), "ack": (), "busy": ("busy",),
    "window": ("chunks",)}
HUB = web.AppKey("hub", Hub)


async def stream(request: web.Request) -> web.StreamResponse:
    """The WebSocket handler (bounded: MAX_STREAMS at once, then 503; the last
    RESERVED_STREAMS of them only for the full token or the Unix socket)."""
    sockets = request.app[STREAMS]
    read_only = request[READ_ONLY]
    limit = MAX_STREAMS - RESERVED_STREAMS if read_only else MAX_STREAMS
    if len(sockets) >= limit:
        return error(503, "Unavailable", f"too many streams ({limit} at once"
                     f"{' for the read-only token' if read_only else ''}); try again later")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_MESSAGE)
    if not ws.can_prepare(request).ok:
        return error(400, "BadRequest", "this is a WebSocket endpoint (Upgrade: websocket)")
    sockets.add(ws)
    try:
        await ws.prepare(request)
        hub = request.app[HUB]
        client = Stream(ws, hub, read_only=read_only)
        hub.sockets.add(client)
        writer = asyncio.get_running_loop().create_task(client.write())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    client.receive(msg.data)
                else:
                    client.fail("messages are JSON text")
        finally:
            hub.sockets.discard(client)
            client.close()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await writer
    finally:
        sockets.discard(ws)
    return ws


async def hub_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the hub lives with the app; sockets close before it."""
    hub = Hub(app[CONTROL], app[LISTING], app[RUN])
    app[HUB] = hub
    hub.start()
    yield
    await hub.close()
    await app[LISTING].close()


async def close_streams(app: web.Application) -> None:
    """on_shutdown: tell every client the daemon goes away."""
    sockets: set[web.WebSocketResponse] = app[STREAMS]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"daemon stopping")
