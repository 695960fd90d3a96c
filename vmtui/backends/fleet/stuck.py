"""The stuck-vCPU sampler: while a VM's console is silent, where are its vCPUs?

One task per running instance of a pool with ``stuck_vcpu_samples`` K > 0.
Every ``stuck_vcpu_period`` seconds of console silence it asks QEMU for every
vCPU's registers (``info registers -a``, about 1 ms) and feeds them to the
:class:`~vmtui.backends.monitor.vcpus.StuckDetector`; K samples in a row of one
vCPU in one kernel function give the verdict "vCPU N stuck in FUNC", long
before the no-output clock. While the console speaks it samples nothing.

RIPs are symbolised through the guest's own ``/proc/kallsyms``, read over SSH
while the guest is healthy (monitor/kallsyms.py: the kernel's table once per
kernel, each boot only where ``_text`` is; a System.map plugs in the same way).
Modules' symbols are read again when ``/proc/modules`` changes, looked at every
:data:`MODULES_EVERY` seconds beside the sampling.

It takes the ledger and the verdict's callback (the watch's), never the Fleet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from vmtui.backends.config.pool import PoolConfig
from vmtui.backends.fleet.ledger import Ledger
from vmtui.backends.fleet.records import InstanceRecord
from vmtui.backends.inert import GuestText
from vmtui.backends.monitor.kallsyms import load_modules, load_symbols
from vmtui.backends.monitor.symbols import SymbolsError
from vmtui.backends.monitor.vcpus import (
    STUCK,
    Stuck,
    StuckDetector,
    parse_registers,
    samples_text,
)
from vmtui.backends.vm.capabilities import GuestAccess, GuestReader, RegisterSampler
from vmtui.backends.vm.diagnose import Diagnosis
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.state import InstanceState

log = logging.getLogger(__name__)

MODULES_EVERY = 30.0  # seconds between looks at /proc/modules
TRIES = 10  # reads of the symbols per boot before the sampler goes on without them
# Periods between samples while no vCPU runs kernel code (all halted or in user
# space): the common idle case costs a fifth; a vCPU in the kernel is followed
# every period. A hang with no output before it is seen at worst IDLE_EVERY
# periods late; one after output (a console line resets the wait) at once.
IDLE_EVERY = 5
OnStuck = Callable[[InstanceRecord, GuestText, Diagnosis], None]


class StuckSampler:
    """Samples silent instances' vCPUs and files a verdict on one that is stuck.

    Args:
        ledger: the fleet's records and clocks.
        pool: the pool's settings (K, the period).
        on_stuck: called once per stuck vCPU, with the verdict's title and its samples.
    """

    def __init__(self, ledger: Ledger, pool: PoolConfig, on_stuck: OnStuck) -> None:
        self.ledger = ledger
        self.samples = pool.stuck_vcpu_samples
        self.period = pool.stuck_vcpu_period
        self.on_stuck = on_stuck
        self.detectors: dict[str, StuckDetector] = {}  # by instance, while followed
        self._modules: dict[str, bytes] = {}
        self.modules_every = MODULES_EVERY
        self.idle_every = IDLE_EVERY

    @property
    def enabled(self) -> bool:
        return self.samples > 0

    async def follow(self, rec: InstanceRecord) -> None:
        """Sample ``rec``'s vCPUs while its instance lives (across resets in place)."""
        inst = rec.instance
        if not isinstance(inst, RegisterSampler):
            return
        detector = self.detectors[rec.name] = StuckDetector(self.samples)
        settled, tries = -1, 0  # settled: the boot whose symbols were read
        modules: asyncio.Task[None] | None = None
        next_modules = self.ledger.clock() + self.modules_every
        next_sample = 0.0
        while rec.instance is inst and not inst.exited():
            await asyncio.sleep(self.period)
            if rec.state is not InstanceState.RUNNING or rec.held:
                detector.reset()  # paused or held vCPUs stand still on purpose
                continue
            if rec.counters.boots != settled:  # a new boot: KASLR moved the kernel
                tries += 1
                if await self.refresh(rec) or tries >= TRIES:
                    settled, tries = rec.counters.boots, 0
                    if rec.symbols is None:
                        self.ledger.note(rec, "stuck-vCPU sampler: no kernel symbols: "
                                              "RIPs stay addresses")
            now = self.ledger.clock()
            if now >= next_modules and (modules is None or modules.done()):
                # Beside the sampling: a guest that just hung would hold it up.
                next_modules = now + self.modules_every
                modules = rec.tasks.spawn(self.refresh_modules(rec), "stuck-vcpu-modules")
            if now - rec.last_output < self.period:
                detector.reset()  # the console speaks: nothing is stuck
                next_sample = 0.0
                continue
            if now < next_sample:
                continue
            try:
                vcpus = parse_registers(await inst.registers_all())
            except (VMError, ValueError) as exc:
                detector.reset()
                log.info("%s: sampling the vCPUs failed: %s", rec.name, exc)
                continue
            calm = not any(v.suspect for v in vcpus)
            next_sample = now + self.period * ((self.idle_every if calm else 1) - 0.5)
            verdict = detector.feed(now, vcpus, rec.symbols)
            if verdict is not None and rec.state is InstanceState.RUNNING:
                detector.reset()  # a restart in place samples afresh
                self._verdict(rec, verdict)

    def _verdict(self, rec: InstanceRecord, stuck: Stuck) -> None:
        first = stuck.samples[0][0]
        body = (f"vCPU {stuck.cpu}: CPL 0, not halted, inside {stuck.function} for "
                f"{len(stuck.samples)} samples {self.period:g} s apart, the console silent\n"
                f"symbols: {self._source(rec)}\n\n" + samples_text(stuck.samples, first))
        detector = self.detectors[rec.name]
        recent = samples_text(list(detector.history), first)
        self.on_stuck(rec, GuestText(stuck.title), Diagnosis(STUCK, {
            STUCK: body, "recent samples (every vCPU)": recent}))

    @staticmethod
    def _source(rec: InstanceRecord) -> str:
        if rec.symbols is None:
            return "none (kallsyms could not be read): a function is its 4 KiB page"
        return f"kallsyms, _text at {rec.symbols.base:016x} this boot"

    async def refresh(self, rec: InstanceRecord) -> bool:
        """Read the guest's symbols for its current boot (and its modules'); False
        if it cannot answer now (its SSH is not up, or there is none)."""
        shell = rec.instance.guest if isinstance(rec.instance, GuestAccess) else None
        if not isinstance(shell, GuestReader):
            return True  # nothing to read them with: unsymbolised, and said so
        rec.symbols = None
        try:
            rec.symbols = await load_symbols(shell)
        except SymbolsError as exc:  # hidden addresses: asking again changes nothing
            self.ledger.note(rec, f"stuck-vCPU sampler: {exc}")
            return True
        except VMError as exc:
            log.info("%s: no kernel symbols yet: %s", rec.name, exc)
            return False
        self._modules.pop(rec.name, None)
        await self.refresh_modules(rec)
        return True

    async def refresh_modules(self, rec: InstanceRecord) -> None:
        """Read the loaded modules' symbols again if ``/proc/modules`` changed."""
        shell = rec.instance.guest if isinstance(rec.instance, GuestAccess) else None
        if rec.symbols is None or not isinstance(shell, GuestReader):
            return
        try:
            found = await load_modules(shell, self._modules.get(rec.name))
        except VMError as exc:
            log.info("%s: the modules' symbols were not read: %s", rec.name, exc)
            return
        if found is None or rec.symbols is None:
            return
        self._modules[rec.name] = found[0]
        rec.symbols = rec.symbols.with_modules(found[1])
