"""Rows for the inspector tabs, from the backend (no Textual here)."""

from __future__ import annotations

from typing import Any

from vmtui.backends.fleet import Fleet
from vmtui.tables import Table


class _Live:
    """The instance's QMP domain and facts, when it has them (QEMU, scripted)."""

    def __init__(self, inst: Any) -> None:
        self.domain = inst.domain
        self.pid = getattr(inst, "pid", None)
        self.accel = getattr(inst, "accel", "")
        self.qmp_socket = getattr(self.domain, "socket", "")
        self.ssh = getattr(inst, "ssh", None)


def _qemu(fleet: Fleet, name: str) -> _Live | None:
    inst = fleet.instance(name)
    return _Live(inst) if hasattr(inst, "domain") else None


async def inspect(fleet: Fleet, name: str, tab: str) -> Table:
    """The table an inspector tab shows for instance ``name``."""
    rec = fleet.record(name)
    inst = _qemu(fleet, name)
    if tab == "status":
        rows: list[tuple[str, ...]] = [("State", rec.state.value),
                                       ("Workdir", str(rec.workdir))]
        if rec.error:
            rows.append(("Error", rec.error))
        if inst is not None:
            status = await inst.domain.status()
            version = await inst.domain.version()
            rows += [("QEMU status", status.status), ("QEMU", f"{version} ({version.package})")]
            if inst.pid is not None:
                rows += [("PID", str(inst.pid)), ("Accelerator", inst.accel)]
            rows.append(("QMP socket", str(inst.qmp_socket)))
            if inst.ssh is not None:
                rows.append(("SSH", f"{inst.ssh.user}@{inst.ssh.host}:{inst.ssh.port}"))
        return Table(("Field", "Value"), rows)
    if inst is None:
        return Table(("",), [("not running",)])
    if tab == "block":
        stats = {s.device or s.node_name: s for s in await inst.domain.block_stats()}
        rows = []
        for b in await inst.domain.block_devices():
            s = stats.get(b.device)
            rows.append((b.device or b.qdev, b.file or "-", b.driver or "-",
                         "ro" if b.read_only else "rw",
                         _bytes(s.rd_bytes) if s else "-", _bytes(s.wr_bytes) if s else "-"))
        return Table(("Device", "File", "Driver", "Mode", "Read", "Written"), rows)
    if tab == "pci":
        return Table(("Address", "Class", "Vendor:Device", "Id"), [
            (d.address, d.description or f"{d.class_code:04x}",
             f"{d.vendor:04x}:{d.device:04x}", d.qdev_id or "-")
            for d in await inst.domain.pci_devices()])
    if tab == "cpus":
        return Table(("CPU", "Thread", "Socket/Core/Thread", "QOM path"), [
            (str(c.index), str(c.thread_id), f"{c.socket}/{c.core}/{c.thread}", c.qom_path)
            for c in await inst.domain.cpus()])
    raise ValueError(f"unknown inspector tab {tab!r}")


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} TiB"
