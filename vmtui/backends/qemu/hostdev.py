"""Host resources a QEMU instance needs before it starts.

tap and macvtap NICs are opened here and their file descriptors (and
vhost-net's) handed to QEMU, as kata's launcher does, so QEMU itself needs no
privilege to create them. Everything that cannot be had says why, naming the
device.
"""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

from vmtui.backends.qemu.config import QemuConfig
from vmtui.backends.qemu.devices import Net, Vfio
from vmtui.backends.qemu.layout import device_ids
from vmtui.backends.vm import InfraError

_TUNSETIFF = 0x400454CA
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
_IFF_VNET_HDR = 0x4000
_IFF_MULTI_QUEUE = 0x0100


def open_tap(ifname: str, multi_queue: bool = False) -> int:
    """Open (creating if needed) the tap interface ``ifname``; return its fd (one
    queue of it, with ``multi_queue``)."""
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR)
    except OSError as exc:
        raise InfraError(f"tap {ifname}: cannot open /dev/net/tun: {exc.strerror}") from exc
    try:
        flags = _IFF_TAP | _IFF_NO_PI | _IFF_VNET_HDR | (_IFF_MULTI_QUEUE if multi_queue else 0)
        ifr = struct.pack("16sH", ifname.encode(), flags)
        fcntl.ioctl(fd, _TUNSETIFF, ifr)
    except OSError as exc:
        os.close(fd)
        raise InfraError(f"tap {ifname}: cannot attach: {exc.strerror} "
                         "(creating a tap device needs CAP_NET_ADMIN)") from exc
    return fd


def open_macvtap(ifname: str) -> int:
    """Open the character device of macvtap interface ``ifname``."""
    index_file = Path("/sys/class/net") / ifname / "ifindex"
    try:
        index = index_file.read_text().strip()
    except OSError:
        raise InfraError(f"macvtap {ifname}: no such interface") from None
    try:
        return os.open(f"/dev/tap{index}", os.O_RDWR)
    except OSError as exc:
        raise InfraError(f"macvtap {ifname}: cannot open /dev/tap{index}: "
                         f"{exc.strerror}") from exc


def open_vhost() -> int:
    try:
        return os.open("/dev/vhost-net", os.O_RDWR)
    except OSError as exc:
        raise InfraError(f"vhost-net is not available: /dev/vhost-net: {exc.strerror}") from exc


def open_device_fds(cfg: QemuConfig, instance: str) -> dict[str, list[int]]:
    """Open what tap/macvtap NICs need; the caller closes them after the spawn."""
    opened: dict[str, list[int]] = {}
    try:
        for dev, dev_id in zip(cfg.devices, device_ids(cfg.devices), strict=True):
            if not isinstance(dev, Net) or dev.backend == "user":
                continue
            fds: list[int] = []
            opened[dev_id] = fds
            for _ in range(dev.queues):  # one fd a queue
                if dev.backend == "tap":
                    fds.append(open_tap(dev.ifname or f"vt-{instance}"[:15], dev.queues > 1))
                else:
                    fds.append(open_macvtap(dev.ifname))
            for _ in range(dev.queues if dev.vhost else 0):
                fds.append(open_vhost())
    except BaseException:
        close_fds(opened)
        raise
    return opened


def close_fds(opened: dict[str, list[int]]) -> None:
    for fds in opened.values():
        for fd in fds:
            os.close(fd)


def check_host(cfg: QemuConfig, accel: str) -> None:
    """Refuse, before starting QEMU, what this host cannot provide."""
    for dev in cfg.devices:
        if isinstance(dev, Vfio):
            path = Path("/sys/bus/pci/devices") / dev.host
            if not path.exists():
                raise InfraError(f"VFIO device {dev.host}: not found in /sys/bus/pci/devices")
            driver = path / "driver"
            if not driver.exists() or driver.resolve().name != "vfio-pci":
                raise InfraError(f"VFIO device {dev.host}: not bound to vfio-pci")
    if cfg.vsock_cid and not Path("/dev/vhost-vsock").exists():
        raise InfraError("vsock_cid: /dev/vhost-vsock not found: this host has no vhost-vsock "
                         "(load the vhost_vsock module, or set vsock_cid: 0)")
    if cfg.hugepages and not Path("/dev/hugepages").is_dir():
        raise InfraError("hugepages: /dev/hugepages is not mounted")
    if cfg.cpu == "host" and accel != "kvm":
        raise InfraError("cpu: host needs KVM (this instance runs under TCG)")
