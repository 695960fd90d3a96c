"""The instance list, snapshotted and encoded once for every reader.

``GET /api/v1/instances`` (and ``/instances/{name}``, ``/totals``, the
stream's pool messages, ``/metrics``) answer from one :class:`Listing`
instead of snapshotting and encoding 1,000 instances per request. While it is
read, a background pass renews it every ``REFRESH`` seconds one pool at a
time (a pool of 125 is ~2 ms of snapshot and encoding), yielding to the event
loop between pools, so no request waits behind the whole list. Freshness is a
promise, not a hope: a read finding a pool's part older than ``FRESH`` renews
that part before it answers; an action through the API marks everything stale
(the next read sees its effect). Idle for ``IDLE`` seconds, it stops renewing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _text  # what json.dumps uses

from aiohttp import web

from vmtui.backends.fleet.control import Control
from vmtui.backends.fleet.records import Counters, InstanceSnapshot
from vmtui.backends.fleet.wire import to_json
from vmtui.serve.state import log

FRESH = 0.5  # seconds: no answer is older than this
REFRESH = 0.4  # seconds between background passes while it is read
IDLE = 10.0  # seconds unread after which the passes stop

Part = Callable[[], list[InstanceSnapshot]]


def parts_of(control: Control) -> list[Part]:
    """The snapshot of ``control`` in pieces that concatenate to ``snapshot()``:
    each pool's on its own (``Control.pool_snapshot``)."""
    return [functools.partial(control.pool_snapshot, pool.name) for pool in control.pools()]


class Listing:
    """The shared, fresh instance list: snapshots, their JSON, a change count."""

    def __init__(self, control: Control, parts: list[Part] | None = None) -> None:
        self._parts = parts if parts is not None else parts_of(control)
        n = len(self._parts)
        self._snaps: list[list[InstanceSnapshot]] = [[] for _ in range(n)]
        self._texts = [""] * n  # each part's snapshots as JSON items, comma-joined
        self._at = [float("-inf")] * n  # when each part was taken (monotonic)
        self._joined: tuple[list[InstanceSnapshot], str, bytes] | None = None
        self.seq = 0  # grows when the encoded list changed
        self._used = float("-inf")
        self._task: asyncio.Task[None] | None = None

    # -- reading ------------------------------------------------------------------

    def snapshots(self) -> list[InstanceSnapshot]:
        """Every instance, at most ``FRESH`` seconds old."""
        return self._current()[0]

    def text(self) -> str:
        """:meth:`snapshots` as the JSON of ``wire.to_json``."""
        return self._current()[1]

    def body(self) -> bytes:
        """:meth:`text` in UTF-8 (an HTTP body)."""
        return self._current()[2]

    def stale(self) -> None:
        """Something changed through the API: the next read takes everything afresh."""
        self._at = [float("-inf")] * len(self._at)

    def _current(self) -> tuple[list[InstanceSnapshot], str, bytes]:
        now = time.monotonic()
        self._used = now
        for i, at in enumerate(self._at):
            if now - at > FRESH:
                self._take(i)
        if self._task is None or self._task.done():
            with contextlib.suppress(RuntimeError):  # no running loop: no passes
                self._task = asyncio.get_running_loop().create_task(self._run())
        if self._joined is None:
            snaps = [s for part in self._snaps for s in part]
            text = "[" + ", ".join(t for t in self._texts if t) + "]"
            self._joined = (snaps, text, text.encode())
        return self._joined

    # -- renewing -----------------------------------------------------------------

    def _take(self, i: int) -> None:
        at = time.monotonic()
        snaps = self._parts[i]()
        text = encode(snaps)
        self._snaps[i], self._at[i] = snaps, at
        if text != self._texts[i]:
            self._texts[i] = text
            self.seq += 1
        self._joined = None

    async def _run(self) -> None:
        while time.monotonic() - self._used < IDLE:
            start = time.monotonic()
            for i in range(len(self._parts)):
                try:
                    self._take(i)
                except Exception:  # a bad pass must not end the renewals
                    log.exception("instance list")
                await asyncio.sleep(0)  # a request waits one pool at most
            await asyncio.sleep(max(0.0, REFRESH - (time.monotonic() - start)))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


LISTING = web.AppKey("listing", Listing)


# -- the encoder ----------------------------------------------------------------------

_SNAPSHOT_FIELDS = ("name", "index", "state", "uptime", "lines_per_sec", "lines", "last_line",
                    "error", "workdir", "title", "hung_in", "held", "gdb", "fault",
                    "boot_output", "counters", "phase", "since_boot", "pool", "console_bytes",
                    "fresh")
_COUNTER_FIELDS = ("rounds", "boots", "crashes", "restarts", "booting_seconds",
                   "workload_seconds", "up_seconds")
# The fast encoder knows these fields; a type that gained or lost one is encoded
# by wire.to_json (slower, never wrong) until the encoder learns it.
FAST = (tuple(f.name for f in dataclasses.fields(InstanceSnapshot)) == _SNAPSHOT_FIELDS
        and tuple(f.name for f in dataclasses.fields(Counters)) == _COUNTER_FIELDS)


def encode(snaps: list[InstanceSnapshot]) -> str:
    """``json.dumps(wire.to_json(snaps))`` without its brackets, ~5x faster."""
    if not FAST:
        return json.dumps(to_json(snaps))[1:-1]
    return ", ".join(map(_snapshot, snaps))


def _num(x: float | None) -> str:
    if x is None:
        return "null"
    return repr(x) if x - x == 0 else json.dumps(x)  # inf and nan as json.dumps says


def _bool(x: bool) -> str:
    return "true" if x else "false"


def _counters(c: Counters | None) -> str:
    if c is None:
        return "null"
    return (f'{{"rounds": {int(c.rounds)}, "boots": {int(c.boots)}, '
            f'"crashes": {int(c.crashes)}, "restarts": {int(c.restarts)}, '
            f'"booting_seconds": {_num(c.booting_seconds)}, '
            f'"workload_seconds": {_num(c.workload_seconds)}, '
            f'"up_seconds": {_num(c.up_seconds)}}}')


def _snapshot(s: InstanceSnapshot) -> str:
    return (f'{{"name": {_text(s.name)}, "index": {int(s.index)}, '
            f'"state": {_text(s.state.value)}, "uptime": {_num(s.uptime)}, '
            f'"lines_per_sec": {_num(s.lines_per_sec)}, "lines": {int(s.lines)}, '
            f'"last_line": {_text(s.last_line)}, "error": {_text(s.error)}, '
            f'"workdir": {_text(str(s.workdir))}, "title": {_text(s.title)}, '
            f'"hung_in": {_num(s.hung_in)}, "held": {_bool(s.held)}, '
            f'"gdb": {_text(s.gdb)}, "fault": {_text(s.fault)}, '
            f'"boot_output": {_bool(s.boot_output)}, "counters": {_counters(s.counters)}, '
            f'"phase": {_text(s.phase)}, "since_boot": {_num(s.since_boot)}, '
            f'"pool": {_text(s.pool)}, "console_bytes": {int(s.console_bytes)}, '
            f'"fresh": {_bool(s.fresh)}}}')
