"""GET /api/v1/stream: pool snapshots, console chunks and change counts over a
WebSocket, with flow control.

One :class:`Hub` per daemon reads the Control's pool snapshot and change count
twice a second and encodes the snapshot once for every subscriber, only when
someone listens, and wakes the sockets when either moved. Each socket has one
writer (the only sender on it): it sends a console chunk, then none until the
client's ``ack``; lines that came meanwhile wait in the ring and go as one
chunk, so the daemon holds at most one chunk per socket. A send that cannot
finish (a client that stopped reading) closes the socket after
``SEND_TIMEOUT``; aiohttp's heartbeat closes a silent peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from vmtui.backends.fleet.control import Control
from vmtui.backends.fleet.wire import to_json
from vmtui.serve.guard import error
from vmtui.serve.state import CONTROL, MAX_STREAMS, STREAMS, log

POOL_INTERVAL = 0.5  # seconds between pool reads (at most ~2 snapshots a second)
CONSOLE_INTERVAL = 0.05  # seconds between console reads while a chunk may go
BUSY_INTERVAL = 0.25  # ... while the client says it falls behind
SEND_TIMEOUT = 30.0  # a send stuck this long: the client stopped reading
HEARTBEAT = 20.0  # ping every 20 s; no pong within 10 s closes the socket
MAX_MESSAGE = 64 * 1024  # a client message is a small JSON object
MAX_ERRORS = 8  # error messages waiting for the writer; more are dropped


class Hub:
    """The shared half of every stream: pool snapshots and the change count."""

    def __init__(self, control: Control) -> None:
        self.control = control
        self.sockets: set[Stream] = set()
        self.pool_text = ""  # the last pool message, encoded once for all
        self.pool_seq = 0  # grows when pool_text changed
        self.changes = control.changes()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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
            text = json.dumps({"type": "pool",
                               "snapshots": to_json(self.control.snapshot())})
            if text != self.pool_text:
                self.pool_text, self.pool_seq, moved = text, self.pool_seq + 1, True
        if moved:
            for sock in self.sockets:
                sock.wake.set()


class Stream:
    """One client's subscriptions, and the writer that serves them."""

    def __init__(self, ws: web.WebSocketResponse, hub: Hub) -> None:
        self.ws, self.hub = ws, hub
        self.wake = asyncio.Event()
        self.pool = False
        self.console: str | None = None
        self.cursor = 0
        self.first = False  # the subscription's first chunk goes even when empty
        self.partial = ""
        self.inflight = False  # a console chunk is out, not yet acknowledged
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
            self.inflight = False
        elif op == "busy":
            busy = msg.get("busy")
            if not isinstance(busy, bool):
                raise _OpError("op 'busy': field 'busy' must be a boolean")
            self.busy = busy
        else:
            self._subscribe(msg.get("name"), msg.get("cursor"))

    def _subscribe(self, name: Any, cursor: Any) -> None:
        if not isinstance(name, str):
            raise _OpError("op 'console': field 'name' must be a string")
        if cursor is not None and (not isinstance(cursor, int) or isinstance(cursor, bool)
                                   or cursor < 0):
            raise _OpError("op 'console': field 'cursor' must be a whole number >= 0 or null")
        try:
            start = self.hub.control.console_start(name) if cursor is None else cursor
        except KeyError:
            raise _OpError(f"no instance named {name!r}", "NotFound") from None
        self.console, self.cursor, self.first = name, start, True
        self.partial, self.inflight = "", False

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
                await self._send(json.dumps({"type": "changes", "changes": self.sent_changes}))
            if self.pool and self.sent_pool != self.hub.pool_seq and self.hub.pool_text:
                self.sent_pool = self.hub.pool_seq
                await self._send(self.hub.pool_text)
            polling = self.console is not None and not self.inflight
            if polling:
                await self._console()
            interval = (BUSY_INTERVAL if self.busy else CONSOLE_INTERVAL) if polling else None
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
            return
        if not (self.first or chunk.lines or chunk.missed or chunk.partial != self.partial):
            return
        self.first, self.partial = False, chunk.partial
        self.cursor, self.inflight = chunk.next_cursor, True
        await self._send(json.dumps({"type": "console", "name": self.console,
                                     "chunk": to_json(chunk)}))

    async def _send(self, text: str) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await self.ws.send_str(text)
        except TimeoutError:
            log.info("stream: a client stopped reading; closing its socket")
            await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too slow")


class _OpError(Exception):
    def __init__(self, message: str, kind: str = "BadRequest") -> None:
        super().__init__(message)
        self.kind = kind


_OPS: dict[str, tuple[str, ...]] = {
    "pool": (), "console": ("name", "cursor"), "ack": (), "busy": ("busy",)}
HUB = web.AppKey("hub", Hub)


async def stream(request: web.Request) -> web.StreamResponse:
    """The WebSocket handler (bounded: MAX_STREAMS at once, then 503)."""
    sockets = request.app[STREAMS]
    if len(sockets) >= MAX_STREAMS:
        return error(503, "Unavailable", f"too many streams ({MAX_STREAMS} at once); "
                     "try again later")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_MESSAGE)
    if not ws.can_prepare(request).ok:
        return error(400, "BadRequest", "this is a WebSocket endpoint (Upgrade: websocket)")
    sockets.add(ws)
    try:
        await ws.prepare(request)
        hub = request.app[HUB]
        client = Stream(ws, hub)
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
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await writer
    finally:
        sockets.discard(ws)
    return ws


async def hub_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the hub lives with the app; sockets close before it."""
    hub = Hub(app[CONTROL])
    app[HUB] = hub
    hub.start()
    yield
    await hub.close()


async def close_streams(app: web.Application) -> None:
    """on_shutdown: tell every client the daemon goes away."""
    sockets: set[web.WebSocketResponse] = app[STREAMS]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"daemon stopping")
