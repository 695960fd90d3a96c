"""The app's typed state (``web.AppKey``) and the tasks the daemon owns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp import web

from vmtui.backends.fleet.control import Control
from vmtui.serve.addresses import Tokens

log = logging.getLogger("vmtui.serve")
T = TypeVar("T")

MAX_STREAMS = 256  # WebSockets at once; the next is refused with 503
RESERVED_STREAMS = 32  # ... of them the read-only token cannot take


class Actions:
    """Actions on the Control run as tasks of the daemon, not of the request: a
    client that goes away mid-request (aiohttp cancels its handler) cancels its
    wait, never the action halfway."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` as the daemon's task; wait for it (shielded)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Read here, so an action whose client left logs no "never retrieved".
            log.debug("action ended with %r", task.exception())

    async def close(self) -> None:
        """Cancel what still runs (the daemon is stopping) and wait for it."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


CONTROL = web.AppKey("control", Control)
TOKENS = web.AppKey("tokens", Tokens)
ACTIONS = web.AppKey("actions", Actions)
STREAMS = web.AppKey("streams", set[web.WebSocketResponse])
VERSION = web.AppKey("version", str)
RUN = web.AppKey("run", str)  # this daemon run's id (backends/fleet/runs.py)
