"""The one place background tasks start: none of their failures goes unseen.

Every task the backend runs beside its callers (console consumers, event
followers, exit watchers, incident writers, the verdict clock) starts through
:meth:`Background.spawn`. A task that raises has its traceback logged and its
failure handed to the owner's ``on_failure`` (the fleet notes it on the
instance: status line and timeline). Cancellation is not a failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

OnFailure = Callable[[str, BaseException], None]


class Background:
    """The background tasks of one owner (an instance, a fleet, a QMP domain).

    Args:
        owner: named in log lines ("demo-0").
        on_failure: called with the task's name and its exception when a
            task raises (after the traceback is logged).
    """

    def __init__(self, owner: str, on_failure: OnFailure | None = None) -> None:
        self.owner = owner
        self.on_failure = on_failure
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run ``coro`` as a task named ``name``; its failure is recorded."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.owner}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        name = task.get_name().removeprefix(f"{self.owner}:")
        log.error("%s: background task %s failed", self.owner, name, exc_info=exc)
        if self.on_failure is not None:
            try:
                self.on_failure(name, exc)
            except Exception:  # the reporter itself broke: the log line above stays
                log.exception("%s: recording the failure of %s failed", self.owner, name)

    def __len__(self) -> int:
        return len(self._tasks)

    async def settle(self) -> None:
        """Wait until every task now running has ended (failures are recorded)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel every task and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
