"""The search across consoles on two real TCG guests: each writes a line on its
serial console, the second later; the search of their console logs on disk
finds both, in the order they were written, each named and from the console."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.conftest import guest_config
from tests.helpers import eventually
from vmtui.backends.console.ring import TEXT, TIME
from vmtui.backends.fleet.control import SearchQuery
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.inert import inert
from vmtui.backends.vm.state import InstanceState
from vmtui.guest.build import Guest
from vmtui.screens.search_jump import SLACK

pytestmark = pytest.mark.guest

PROBE = "vmtui-search-probe"


async def test_two_guests_lines_found_in_time_order(guest: Guest, workdir: Path) -> None:
    fleet = Fleet(guest_config(guest, workdir, count=2, name="find"))
    control = LocalControl(fleet)
    try:
        await asyncio.wait_for(fleet.start(), 180)
        assert [s.state for s in fleet.snapshot()] == [InstanceState.RUNNING] * 2, \
            [s.error for s in fleet.snapshot()]
        began = time.time()
        # The second instance first: the order found is the order written, not the names'.
        for name in ("find-1", "find-0"):
            await fleet.guest(name).run(f"echo {PROBE} from {name} > /dev/console", timeout=30)
            await asyncio.sleep(0.5)

        async def found() -> int:
            return len((await control.search(SearchQuery(PROBE))).hits)

        for _ in range(100):  # the serial line reaches the log a moment after the command
            if await found() >= 2:
                break
            await asyncio.sleep(0.1)
        result = await control.search(SearchQuery(rf"{PROBE} from \S+",
                                                  sources=("console",), since=began - 1))
        # (The guest's shell prompt, unfinished on the console, may lead the line.)
        assert [(h.instance, h.text.split(PROBE)[-1]) for h in result.hits] == [
            ("find-1", " from find-1"), ("find-0", " from find-0")]
        first, second = result.hits
        assert began - 1 <= first.time < second.time <= time.time()
        assert not result.more and result.files == 2
        # The instance screen lands on a hit by its time: the ring's line of
        # that text was stored within the slack of the time on disk.
        for hit in result.hits:
            ring = [line for line in fleet.console(hit.instance).tail(100000)
                    if inert(line[TEXT]) == hit.text]
            assert ring and abs(ring[-1][TIME] - hit.time) < SLACK
        # Outside the window: nothing.
        late = await control.search(SearchQuery(PROBE, since=time.time() + 60))
        assert late.hits == []
    finally:
        await fleet.close()
    await eventually(lambda: all(s.state is InstanceState.STOPPED for s in fleet.snapshot()),
                     10)
