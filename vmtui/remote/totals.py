"""The pool header's totals on the client: an estimate from the snapshots at
once, the daemon's figures read again (``GET /totals``) with each pool
snapshot, for the few sets of instances a screen asked about."""

from __future__ import annotations

import asyncio
import logging

from vmtui.backends.fleet.records import InstanceSnapshot, PoolTotals
from vmtui.backends.fleet.wire import from_json
from vmtui.backends.vm.errors import VMError
from vmtui.remote.http import Api

log = logging.getLogger(__name__)

TOTALS_KEPT = 8  # sets of instances whose totals are kept fresh


class Totals:
    """The totals of the sets of instances asked, kept fresh from ``api``."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._known: dict[tuple[str, ...], PoolTotals] = {}
        self.task: asyncio.Task[None] | None = None

    def get(self, snapshots: list[InstanceSnapshot]) -> PoolTotals:
        """The last figures for these instances (an estimate the first time)."""
        key = tuple(sorted(s.name for s in snapshots))
        known = self._known.get(key)
        if known is None:
            while len(self._known) >= TOTALS_KEPT:
                del self._known[next(iter(self._known))]
            known = self._known[key] = estimate(snapshots)
            self.refresh()
        return known

    def refresh(self) -> None:
        """Read every kept set's figures again (once at a time)."""
        if self._known and (self.task is None or self.task.done()):
            self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        for key in list(self._known):
            try:
                data = await self.api.call("GET", "/totals",
                                           params=[("instance", n) for n in key])
                totals = from_json(data, PoolTotals)
            except (VMError, KeyError, TypeError, ValueError) as exc:
                log.debug("totals: %s", exc)
                return
            self._known[key] = totals


def estimate(snapshots: list[InstanceSnapshot]) -> PoolTotals:
    """The header's figures from the snapshots alone, until the daemon's come."""
    counters = [s.counters for s in snapshots if s.counters is not None]
    return PoolTotals(sum(c.up_seconds for c in counters) / 3600,
                      sum(c.crashes for c in counters), 0.0,
                      len({s.title for s in snapshots if s.title}))
