"""Rows for the inspector tabs (Status, Block, PCI, CPUs, Snapshots), from the backend.

The CPUs tab reads every vCPU's registers once (``info registers -a``) and
names the function each RIP is in through the kernel's symbols: the stuck-vCPU
sampler's (fleet/stuck.py), else the guest's kallsyms read here once per boot.

Any VM type with the :class:`~vmtui.backends.vm.capabilities.Inspectable` capability
fills every tab; for the others the Status tab shows what the fleet knows and
the QMP tabs say they are not available.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from vmtui.backends.fleet.records import InstanceRecord
from vmtui.backends.monitor.kallsyms import load_modules, load_symbols
from vmtui.backends.monitor.symbols import Symbols, SymbolsError
from vmtui.backends.monitor.vcpus import VcpuSample, parse_registers, task_of, where
from vmtui.backends.vm.capabilities import (
    Facts,
    GuestAccess,
    GuestReader,
    Inspectable,
    QmpView,
    RegisterSampler,
    Snapshots,
)
from vmtui.backends.vm.errors import VMError

TABS = ("status", "block", "pci", "cpus", "snapshots")


@dataclass(frozen=True)
class Table:
    """Columns and rows of text for an inspector tab (values may be guest text)."""

    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


async def inspect(rec: InstanceRecord, tab: str) -> Table:
    """The table an inspector tab shows for the instance of ``rec``."""
    if tab not in TABS:
        raise ValueError(f"unknown inspector tab {tab!r}")
    inst = rec.instance
    view = inst.inspector if isinstance(inst, Inspectable) else None
    if tab == "status":
        rows: list[tuple[str, ...]] = [("State", rec.state.value),
                                       ("Workdir", str(rec.workdir))]
        if rec.error:
            rows.append(("Error", rec.error))
        if isinstance(inst, Inspectable):
            status = await inst.inspector.status()
            version = await inst.inspector.version()
            rows += [("QEMU status", status.status), ("QEMU", f"{version} ({version.package})")]
        if isinstance(inst, Facts):
            rows += inst.facts()
        return Table(("Field", "Value"), rows)
    if tab == "snapshots":
        return await _snapshots(inst)
    if view is None:
        why = "not running" if inst is None else "its VM type has no QMP inspectors"
        return Table(("",), [(why,)])
    if tab == "cpus":
        return await _cpus(view, inst, await _symbols(rec))
    return await _QMP_TABS[tab](view)


async def _block(view: QmpView) -> Table:
    stats = {s.device or s.node_name: s for s in await view.block_stats()}
    rows = []
    for b in await view.block_devices():
        s = stats.get(b.device)
        rows.append((b.device or b.qdev, b.file or "-", b.driver or "-",
                     "ro" if b.read_only else "rw",
                     _bytes(s.rd_bytes) if s else "-", _bytes(s.wr_bytes) if s else "-"))
    return Table(("Device", "File", "Driver", "Mode", "Read", "Written"), rows)


async def _pci(view: QmpView) -> Table:
    return Table(("Address", "Class", "Vendor:Device", "Id"), [
        (d.address, d.description or f"{d.class_code:04x}",
         f"{d.vendor:04x}:{d.device:04x}", d.qdev_id or "-")
        for d in await view.pci_devices()])


async def _symbols(rec: InstanceRecord) -> Symbols | None:
    """The kernel's symbols this boot: the stuck-vCPU sampler's, else read once per
    boot here (a few seconds at most: a hung guest's SSH is not waited for long)."""
    shell = rec.instance.guest if isinstance(rec.instance, GuestAccess) else None
    if rec.symbols is None and rec.symbols_asked != rec.counters.boots \
            and isinstance(shell, GuestReader):
        rec.symbols_asked = rec.counters.boots
        try:
            symbols = await load_symbols(shell, timeout=5.0)
            found = await load_modules(shell, None, timeout=15.0)
        except (VMError, SymbolsError):
            return None
        rec.symbols = symbols.with_modules(found[1] if found else None)
    return rec.symbols


async def _cpus(view: QmpView, inst: object, symbols: Symbols | None) -> Table:
    """Each vCPU: its host thread, and where it is (RIP symbolised through the
    guest's kallsyms, CPL, halted) with what that says of its current task."""
    cpus = await view.cpus()
    found: dict[int, VcpuSample] = {}
    why = "its VM type cannot read the vCPUs' registers"
    if isinstance(inst, RegisterSampler):
        try:
            found = {s.cpu: s for s in parse_registers(await inst.registers_all())}
        except (VMError, ValueError) as exc:
            why = f"registers unavailable: {exc}"
    rows = []
    for c in cpus:
        s = found.get(c.index)
        place: tuple[str, ...] = (
            (where(s, symbols), str(s.cpl), "yes" if s.halted else "no", task_of(s))
            if s is not None else (why, "-", "-", "-"))
        rows.append((str(c.index), str(c.thread_id), *place))
    return Table(("CPU", "Thread", "RIP", "CPL", "Halted", "Task"), rows)


async def _snapshots(inst: object) -> Table:
    if not isinstance(inst, Snapshots):
        why = "not running" if inst is None else "its VM type has no VM snapshots"
        return Table(("",), [(why,)])
    try:
        found = await inst.snapshots()
    except VMError as exc:  # no disk to hold them, say
        return Table(("",), [(str(exc),)])
    if not found:
        return Table(("",), [("no snapshots yet: S takes one",)])
    return Table(("Tag", "Taken", "VM state", "Guest clock"), [
        (s.tag, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.date)),
         _bytes(s.vm_state_size), f"{s.vm_clock:.1f} s") for s in found])


_QMP_TABS = {"block": _block, "pci": _pci}


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
