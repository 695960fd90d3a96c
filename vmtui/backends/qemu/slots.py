"""How many local QEMU VMs boot at once.

A TCG boot keeps a host CPU busy for seconds. With more boots than CPUs they
share the CPUs: every one of them boots slower, the first is ready late, and a
guest that is already up answers its first SSH login slowly, starved by the
others still booting (a pool of 4 on 2 cores: all ready 7 to 9 s in, up to
0.55 s after their own "up" line). So boots take turns, as many at once as the
host has CPUs (every local QEMU pool of this vmtui shares that limit), unless
a pool's ``boot_parallel`` sets its own (0: no limit). Only the start of a VM
waits for a turn, never a snapshot restore or a reset in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import AsyncIterator, Callable

# One shared limit per event loop (a semaphore belongs to one loop).
_host: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary())


def host_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _host_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _host:
        _host[loop] = asyncio.Semaphore(host_cpus())
    return _host[loop]


class BootTurns:
    """Turns to boot for one pool: its own limit, or the host's shared one.

    Args:
        parallel: None for the host's limit (its CPU count, shared by every
            pool that uses it), 0 for no limit, N for at most N of this pool.
    """

    def __init__(self, parallel: int | None) -> None:
        self.parallel = parallel
        self._own: asyncio.Semaphore | None = None

    def _slots(self) -> tuple[asyncio.Semaphore | None, str]:
        if self.parallel is None:
            return _host_slots(), (f"{host_cpus()} boot(s) at once, one per host CPU, shared "
                                   f"by every local QEMU pool (vm.boot_parallel: 0 for no limit)")
        if self.parallel == 0:
            return None, ""
        if self._own is None:
            self._own = asyncio.Semaphore(self.parallel)
        return self._own, f"{self.parallel} boot(s) of this pool at once (vm.boot_parallel)"

    @contextlib.asynccontextmanager
    async def turn(self, waiting: Callable[[str], None]) -> AsyncIterator[None]:
        """Hold a turn while the body boots; ``waiting`` is told why, once,
        when the turn does not come at once."""
        slots, why = self._slots()
        if slots is None:
            yield
            return
        if slots.locked():
            waiting(f"waiting for a turn to boot: {why}")
        async with slots:
            yield
