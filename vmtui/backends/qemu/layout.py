"""Where each device stands on one command line: its id, a bridge's chassis
number, and the context devices build their arguments in."""

from __future__ import annotations

from dataclasses import dataclass, field

from vmtui.backends.qemu.devices import Bridge, Device

KIND_PREFIX = {"block": "disk", "net": "net", "vhost-user": "vhu", "9p": "fs",
               "chardev": "chr", "serial": "vser", "nvdimm": "nvdimm", "vfio": "vfio",
               "bridge": "br"}


def device_ids(devices: list[Device]) -> list[str]:
    """Each device's id: its own, or the kind's prefix and its position."""
    return [d.id or f"{KIND_PREFIX[d.kind]}{i}" for i, d in enumerate(devices)]


def bridge_chassis(devices: list[Device]) -> dict[str, int]:
    """Each bridge's chassis number: its own, else the next one nobody asked for.

    Raises:
        ValueError: two bridges ask for the same number.
    """
    bridges = [(i, dev_id, d) for i, (d, dev_id) in
               enumerate(zip(devices, device_ids(devices), strict=True)) if isinstance(d, Bridge)]
    taken: dict[int, int] = {}
    for i, _, d in bridges:
        if d.chassis and d.chassis in taken:
            raise ValueError(f"devices[{i}].chassis: {d.chassis} is already used by "
                             f"devices[{taken[d.chassis]}]")
        if d.chassis:
            taken[d.chassis] = i
    out, free = {}, (n for n in range(1, 256) if n not in taken)
    for _, dev_id, d in bridges:
        out[dev_id] = d.chassis or next(free)
    return out


@dataclass
class ArgvContext:
    """The :class:`Context` for one command line."""

    machine: str
    opened: dict[str, list[int]] = field(default_factory=dict)
    chassis_of: dict[str, int] = field(default_factory=dict)
    boot_device: str = ""
    _done: set[str] = field(default_factory=set)

    def chassis(self, device_id: str) -> int:
        return self.chassis_of.get(device_id, 1)

    def once(self, key: str, argv: list[str]) -> list[str]:
        if key in self._done:
            return []
        self._done.add(key)
        return argv

    def fds(self, device_id: str) -> list[int]:
        try:
            return self.opened[device_id]
        except KeyError:
            raise ValueError(f"device {device_id}: its file descriptors were not "
                             "opened before building the command line") from None
