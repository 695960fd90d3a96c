"""Typed results of the QMP queries the inspectors show (go-qemu's Domain types)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Status:
    status: str  # "running", "paused", "shutdown", "guest-panicked", ...
    running: bool

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Status:
        return cls(status=str(raw["status"]), running=bool(raw["running"]))


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    micro: int
    package: str

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.micro}"

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Version:
        q = raw["qemu"]
        return cls(int(q["major"]), int(q["minor"]), int(q["micro"]),
                   str(raw.get("package", "")).strip())


@dataclass(frozen=True)
class BlockDevice:
    device: str
    qdev: str
    node_name: str
    file: str
    driver: str
    read_only: bool
    removable: bool

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> BlockDevice:
        inserted = raw.get("inserted") or {}
        return cls(device=str(raw.get("device", "")), qdev=str(raw.get("qdev", "")),
                   node_name=str(inserted.get("node-name", "")),
                   file=str(inserted.get("file", "")), driver=str(inserted.get("drv", "")),
                   read_only=bool(inserted.get("ro", False)),
                   removable=bool(raw.get("removable", False)))


@dataclass(frozen=True)
class BlockStats:
    device: str
    node_name: str
    rd_bytes: int
    wr_bytes: int
    rd_operations: int
    wr_operations: int
    flush_operations: int

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> BlockStats:
        s = raw.get("stats", {})
        return cls(device=str(raw.get("device", "")), node_name=str(raw.get("node-name", "")),
                   rd_bytes=int(s.get("rd_bytes", 0)), wr_bytes=int(s.get("wr_bytes", 0)),
                   rd_operations=int(s.get("rd_operations", 0)),
                   wr_operations=int(s.get("wr_operations", 0)),
                   flush_operations=int(s.get("flush_operations", 0)))


@dataclass(frozen=True)
class BlockJob:
    device: str
    type: str
    status: str
    length: int
    offset: int
    ready: bool
    busy: bool
    paused: bool

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> BlockJob:
        return cls(device=str(raw["device"]), type=str(raw["type"]),
                   status=str(raw.get("status", "")), length=int(raw.get("len", 0)),
                   offset=int(raw.get("offset", 0)), ready=bool(raw.get("ready", False)),
                   busy=bool(raw.get("busy", False)), paused=bool(raw.get("paused", False)))


@dataclass(frozen=True)
class PCIDevice:
    bus: int
    slot: int
    function: int
    class_code: int
    description: str
    vendor: int
    device: int
    qdev_id: str

    @property
    def address(self) -> str:
        return f"{self.bus:02x}:{self.slot:02x}.{self.function}"

    @classmethod
    def walk(cls, buses: list[dict[str, Any]]) -> list[PCIDevice]:
        """Every device on ``buses`` (query-pci's answer), behind bridges too."""
        out: list[PCIDevice] = []

        def visit(devices: list[dict[str, Any]]) -> None:
            for dev in devices:
                info = dev.get("class_info", {})
                ident = dev.get("id", {})
                out.append(cls(bus=int(dev["bus"]), slot=int(dev["slot"]),
                               function=int(dev["function"]),
                               class_code=int(info.get("class", 0)),
                               description=str(info.get("desc", "")),
                               vendor=int(ident.get("vendor", 0)),
                               device=int(ident.get("device", 0)),
                               qdev_id=str(dev.get("qdev_id", ""))))
                bridge = dev.get("pci_bridge")
                if bridge:
                    visit(bridge.get("devices", []))

        for bus in buses:
            visit(bus.get("devices", []))
        return out


@dataclass(frozen=True)
class CPU:
    index: int
    qom_path: str
    thread_id: int
    target: str
    socket: int | None
    core: int | None
    thread: int | None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> CPU:
        props = raw.get("props", {})
        return cls(index=int(raw["cpu-index"]), qom_path=str(raw.get("qom-path", "")),
                   thread_id=int(raw.get("thread-id", 0)), target=str(raw.get("target", "")),
                   socket=props.get("socket-id"), core=props.get("core-id"),
                   thread=props.get("thread-id"))


@dataclass(frozen=True)
class Event:
    """A QMP event: name, data and the time QEMU stamped on it (seconds)."""

    name: str
    data: dict[str, Any]
    time: float

    @classmethod
    def parse(cls, raw: Any) -> Event:
        stamp = raw.get("timestamp", {})
        when = float(stamp.get("seconds", 0)) + float(stamp.get("microseconds", 0)) / 1e6
        return cls(name=str(raw["event"]), data=dict(raw.get("data", {})), time=when)


@dataclass(frozen=True)
class VMSnapshot:
    """An internal VM snapshot (savevm): RAM, devices and disks at one moment."""

    tag: str
    vm_state_size: int  # bytes of saved RAM and device state
    date: float  # when it was taken (seconds since the epoch)
    vm_clock: float  # the guest's clock then (seconds since boot)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> VMSnapshot:
        return cls(str(raw.get("name", "")), int(raw.get("vm-state-size", 0)),
                   raw.get("date-sec", 0) + raw.get("date-nsec", 0) / 1e9,
                   raw.get("vm-clock-sec", 0) + raw.get("vm-clock-nsec", 0) / 1e9)
