"""Where each vCPU is, from QEMU's ``info registers -a``, and the stuck-vCPU verdict.

A hang with interrupts off prints nothing: the console's no-output clock
notices it only minutes later, and the kernel's own watchdogs late or never
(a CPU spinning with interrupts off cannot run its soft-lockup timer; on one
vCPU nothing else runs at all). QEMU still answers: ``info registers -a``
gives every vCPU's RIP, CPL and HLT in about a millisecond. A vCPU at CPL 0,
not halted, whose RIP stays inside one function for K samples in a row is
stuck there (:class:`StuckDetector`). An idle vCPU halts (HLT=1), a busy user
program runs at CPL 3, and a kernel that is merely busy moves between
functions: none of them keeps K samples in one function.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass

from vmtui.backends.monitor.symbols import Symbols

# A vCPU's header, and its RIP line (RIP=... RFL=... [flags] CPL=0 II=0 A20=1 SMM=0 HLT=1).
_CPU = re.compile(r"^CPU#(\d+)", re.M)
_RIP = re.compile(r"RIP=([0-9a-fA-F]{1,16}) [^\n]*?CPL=(\d) [^\n]*?HLT=(\d)")
STUCK = "stuck vCPU"  # the action of the verdict's Diagnosis: its samples
PAGE = 12  # without symbols, "the same function" is "the same 4 KiB page"


@dataclass(frozen=True, slots=True)
class VcpuSample:
    """One vCPU at one moment."""

    cpu: int
    rip: int
    cpl: int
    halted: bool

    @property
    def suspect(self) -> bool:
        """Running kernel code (CPL 0, not halted): what a stuck vCPU does."""
        return self.cpl == 0 and not self.halted


def parse_registers(text: str) -> list[VcpuSample]:
    """Every vCPU of an ``info registers -a`` answer (or of one ``info registers``).

    Raises:
        ValueError: no RIP line in ``text`` (the text is quoted, cut short).
    """
    # Two scans for literal prefixes (this runs every second for every VM).
    headers = [(m.start(), int(m[1])) for m in _CPU.finditer(text)]
    found: list[VcpuSample] = []
    for m in _RIP.finditer(text):
        before = [cpu for at, cpu in headers if at < m.start()]
        index = before[-1] if before else len(found)
        found.append(VcpuSample(index, int(m[1], 16), int(m[2]), m[3] == "1"))
    if not found:
        raise ValueError(f"no RIP=... CPL=... HLT=... line in the registers: {text[:120]!r}")
    return found


def where(sample: VcpuSample, symbols: Symbols | None) -> str:
    """The function ``sample``'s RIP is in (``func+0x1a/0x40``), else its address."""
    if symbols is not None and sample.cpl == 0:
        return symbols.describe(sample.rip)
    return f"{sample.rip:016x}"


def task_of(sample: VcpuSample) -> str:
    """What can be said of the vCPU's current task from its registers alone.

    Only Linux halts in its idle loop, so a halted vCPU runs its idle task; a
    vCPU at CPL 3 runs some user task; which task runs kernel code needs the
    kernel's memory read with its types (a vmcore and drgn), not kallsyms.
    """
    if sample.halted:
        return f"swapper/{sample.cpu} (idle)"
    if sample.cpl == 3:
        return "a user task"
    return "? (needs a vmcore + drgn)"


@dataclass(frozen=True, slots=True)
class Stuck:
    """The verdict: ``cpu`` ran kernel code inside ``function`` for every one of ``samples``."""

    cpu: int
    function: str
    samples: tuple[tuple[float, VcpuSample, str], ...]  # (when, sample, where), oldest first

    @property
    def title(self) -> str:
        return f"vCPU {self.cpu} stuck in {self.function}"


class StuckDetector:
    """K samples in a row of one vCPU in one kernel function: stuck.

    Args:
        samples: K, how many consecutive samples make the verdict (at least 2).
        keep: how many recent samples (all vCPUs) the verdict carries as evidence.
    """

    def __init__(self, samples: int, keep: int = 64) -> None:
        if samples < 2:
            raise ValueError(f"stuck_vcpu_samples: {samples} must be at least 2 (0: off)")
        self.samples = samples
        self.history: collections.deque[tuple[float, VcpuSample, str]] = \
            collections.deque(maxlen=keep)
        self._streaks: dict[int, tuple[str, int]] = {}
        self.taken = 0  # samples fed since the detector was made (every vCPU counts once)

    def reset(self) -> None:
        """Forget the streaks (the console spoke: the guest is not silent)."""
        self._streaks.clear()

    def feed(self, when: float, vcpus: list[VcpuSample],
             symbols: Symbols | None) -> Stuck | None:
        """One sample of every vCPU; the verdict once a vCPU has stayed K samples."""
        verdict: Stuck | None = None
        for sample in vcpus:
            self.taken += 1
            self.history.append((when, sample, where(sample, symbols)))
            if not sample.suspect:
                self._streaks.pop(sample.cpu, None)
                continue
            key = self._function(sample, symbols)
            last, count = self._streaks.get(sample.cpu, ("", 0))
            count = count + 1 if key == last else 1
            self._streaks[sample.cpu] = (key, count)
            if count >= self.samples and verdict is None:
                mine = [h for h in self.history if h[1].cpu == sample.cpu][-count:]
                verdict = Stuck(sample.cpu, key, tuple(mine))
        return verdict

    @staticmethod
    def _function(sample: VcpuSample, symbols: Symbols | None) -> str:
        found = symbols.lookup(sample.rip) if symbols is not None else None
        if found is not None:
            return found.name
        # No symbol holds it: the page stands in for the function.
        return f"kernel code at {sample.rip >> PAGE << PAGE:016x} (no symbols)"


def samples_text(samples: tuple[tuple[float, VcpuSample, str], ...] | list[
        tuple[float, VcpuSample, str]], start: float) -> str:
    """The samples as a table, times in seconds from ``start``."""
    lines = [f"{'t (s)':>7}  vCPU  {'RIP':16}  CPL  HLT  where"]
    lines += [f"{when - start:7.2f}  {s.cpu:4}  {s.rip:016x}  {s.cpl:3}  {int(s.halted):3}  {w}"
              for when, s, w in samples]
    return "\n".join(lines) + "\n"
