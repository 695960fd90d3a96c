"""The crash and incident lists on the client: read with everything at each
connection, read again (``GET /crashes``, ``GET /incidents``) when the stream
says they changed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from vmtui.backends.fleet.wire import from_json
from vmtui.backends.monitor.crashes import Crash
from vmtui.backends.monitor.evidence import Incident
from vmtui.backends.vm.errors import VMError
from vmtui.remote.http import Api

log = logging.getLogger(__name__)


class Lists:
    """The daemon's crashes and incidents, and a count that grows when they were read."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.crashes: list[Crash] = []
        self.incidents: list[Incident] = []
        self.changes = 0
        self.task: asyncio.Task[None] | None = None
        self._again = False

    def take(self, crashes: Any, incidents: Any) -> None:
        """The lists as the API answered them (ValueError, TypeError, KeyError: not lists)."""
        crash_list = from_json(crashes, list[Crash])
        incident_list = from_json(incidents, list[Incident])
        self.crashes, self.incidents = crash_list, incident_list
        self.changes += 1

    def read(self) -> None:
        """Read both again (one read at a time; one more after it when asked meanwhile)."""
        if self.task is not None and not self.task.done():
            self._again = True
            return
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            self._again = False
            try:
                crashes, incidents = await asyncio.gather(
                    self.api.call("GET", "/crashes"), self.api.call("GET", "/incidents"))
                self.take(crashes, incidents)
            except (VMError, KeyError, TypeError, ValueError) as exc:
                log.debug("crashes and incidents: %s", exc)
                return  # read again on reconnection
            if not self._again:
                return
