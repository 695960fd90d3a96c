"""QEMU devices of a ``vm.devices`` list: one dataclass per kind, each yielding its argv.

The vocabulary follows kata-containers' QEMU launcher (block, net, 9p,
chardev, serial, NVDIMM, VFIO, bridges, vhost-user), but where kata silently
drops an invalid device, each class here refuses it in ``__post_init__`` with
a message naming the field; the schema adds the device's path in the list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from vmtui.backends.config.schema import Size, spec, varies

MAC_RE = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
BDF_RE = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,30}$")


def opt(value: object) -> str:
    """A value inside a QEMU ``key=value,...`` option: commas are doubled."""
    return str(value).replace(",", ",,")


class Context(Protocol):
    """What a device needs from the command line being built."""

    machine: str
    boot_device: str  # the id of the disk the firmware boots, or ""

    def once(self, key: str, argv: list[str]) -> list[str]:
        """``argv`` the first time ``key`` is asked for, [] afterwards."""

    def fds(self, device_id: str) -> list[int]:
        """File descriptors opened for this device before launch."""

    def chassis(self, device_id: str) -> int:
        """The bridge's chassis number, unique on the command line."""


# The ids vmtui gives its own objects start with this; a device's -device and
# memory backend take its id plus a suffix. Users may take neither.
OWN_PREFIX = "vmtui-"
SUFFIXES = ("-dev", "-mem", "-chr", "-io")


def _check_id(value: str) -> None:
    if value and not ID_RE.match(value):
        raise ValueError(f"id: {value!r} must start with a letter and hold letters, "
                         "digits, '.', '_' or '-' (at most 31)")
    if value.startswith(OWN_PREFIX) or value.endswith(SUFFIXES):
        raise ValueError(f"id: {value!r} is reserved: vmtui's own ids start with "
                         f"{OWN_PREFIX!r}, and a device's parts end in -dev, -mem, -chr or -io")


@dataclass(frozen=True)
class Block:
    """A disk: ``-drive`` (the backend) plus a ``-device`` (what the guest sees)."""

    kind: Literal["block"]
    file: Path = spec(must_exist=True, help="disk image")
    format: Literal["raw", "qcow2"] = "raw"
    interface: Literal["virtio", "scsi", "ide", "nvme"] = "virtio"
    cache: Literal["none", "writeback", "writethrough", "directsync", "unsafe"] = "writeback"
    aio: Literal["threads", "native", "io_uring"] = "threads"
    readonly: bool = False
    snapshot: bool = spec(False, help="writes go to a temporary overlay")
    overlay: bool = spec(False, help="writes go to a per-instance qcow2 overlay in the "
                                     "instance's workdir (made fresh at each boot)")
    serial: str = spec("", help="the disk's serial number, as the guest sees it")
    discard: bool = spec(False, help="pass the guest's discards (TRIM) to the image")
    iothread: bool = spec(False, help="virtio/scsi: the disk's I/O in its own thread")
    id: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id)
        if self.aio == "native" and self.cache not in ("none", "directsync"):
            raise ValueError("aio: native needs cache: none or directsync (O_DIRECT)")
        if self.readonly and (self.snapshot or self.overlay):
            raise ValueError(f"{'snapshot' if self.snapshot else 'overlay'}: a read-only disk "
                             "needs no overlay")
        if self.iothread and self.interface not in ("virtio", "scsi"):
            raise ValueError(f"iothread: an {self.interface} disk has no iothread "
                             "(interface: virtio or scsi)")
        if self.serial and not re.match(r"^[A-Za-z0-9_.-]{1,20}$", self.serial):
            raise ValueError(f"serial: {self.serial!r}: up to 20 letters, digits, '.', '_', '-'")
        if self.snapshot and self.overlay:
            raise ValueError("overlay: choose snapshot (a temporary overlay) or overlay "
                             "(one in the workdir), not both")
        if self.readonly and self.interface in ("ide", "nvme"):
            raise ValueError(f"readonly: QEMU cannot attach a read-only {self.interface} disk "
                             "(use interface: virtio or scsi, or snapshot: true)")

    def argv(self, dev_id: str, ctx: Context) -> list[str]:
        drive = (f"file={opt(self.file)},if=none,id={dev_id},format={self.format},"
                 f"cache={self.cache},aio={self.aio}")
        if self.readonly:
            drive += ",readonly=on"
        if self.snapshot:
            drive += ",snapshot=on"
        if self.discard:
            drive += ",discard=unmap"
        out = ["-drive", drive]
        # Without a kernel, the firmware boots the first disk.
        boot = ",bootindex=0" if ctx.boot_device == dev_id else ""
        if self.serial and self.interface != "nvme":
            boot += f",serial={self.serial}"
        if self.iothread:
            out += ["-object", f"iothread,id={dev_id}-io"]
            boot += f",iothread={dev_id}-io" if self.interface == "virtio" else ""
        if self.interface == "virtio":
            out += ["-device", f"virtio-blk-pci,drive={dev_id},id={dev_id}-dev{boot}"]
        elif self.interface == "scsi":
            scsi = f"virtio-scsi-pci,id={OWN_PREFIX}scsi"
            out += ctx.once("scsi", ["-device", scsi + (f",iothread={dev_id}-io"
                                                        if self.iothread else "")])
            out += ["-device", f"scsi-hd,drive={dev_id},bus={OWN_PREFIX}scsi.0,"
                               f"id={dev_id}-dev{boot}"]
        elif self.interface == "ide":
            out += ["-device", f"ide-hd,drive={dev_id},id={dev_id}-dev{boot}"]
        else:
            out += ["-device", f"nvme,drive={dev_id},serial={self.serial or dev_id},"
                               f"id={dev_id}-dev{boot}"]
        return out


@dataclass(frozen=True)
class HostForward:
    """A host port forwarded into the guest (user networking)."""

    host: int = spec(min=1, max=65535)
    guest: int = spec(min=1, max=65535)
    protocol: Literal["tcp", "udp"] = "tcp"
    address: str = "127.0.0.1"


@dataclass(frozen=True)
class Net:
    """A NIC. ``user``: slirp (restrict=on by default); ``tap``/``macvtap``: vmtui
    opens the device and passes its file descriptor (and vhost-net's) to QEMU."""

    kind: Literal["net"]
    backend: Literal["user", "tap", "macvtap"] = "user"
    model: Literal["virtio-net-pci", "e1000", "rtl8139"] = "virtio-net-pci"
    mac: str = ""
    forwards: list[HostForward] = spec(default_factory=list)
    restrict: bool = spec(True, help="user networking: the guest reaches nothing outside")
    ifname: str = spec("", help="tap: name (created if missing); macvtap: the interface")
    vhost: bool = spec(False, help="tap/macvtap: use vhost-net")
    queues: int = spec(1, min=1, max=16, help="tap/macvtap: queue pairs (multiqueue)")
    id: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id)
        if self.queues > 1 and (self.backend == "user" or self.model != "virtio-net-pci"):
            raise ValueError("queues: multiqueue needs backend: tap or macvtap and model: "
                             "virtio-net-pci")
        if self.mac and varies(self.mac):
            pass  # checked once filled in, per instance
        elif self.mac and not MAC_RE.match(self.mac):
            raise ValueError(f"mac: {self.mac!r} is not a MAC address like 52:54:00:12:34:56")
        if self.mac and int(self.mac[:2], 16) & 1:
            raise ValueError(f"mac: {self.mac!r} is a multicast address (its first byte is "
                             "odd); a NIC needs a unicast one like 52:54:00:12:34:56")
        if self.forwards and self.backend != "user":
            raise ValueError("forwards: host forwards need backend: user")
        if self.backend == "macvtap" and not self.ifname:
            raise ValueError("ifname: a macvtap NIC needs the macvtap interface's name")
        if self.vhost and self.backend == "user":
            raise ValueError("vhost: vhost-net needs backend: tap or macvtap")
        if self.vhost and self.model != "virtio-net-pci":
            raise ValueError("vhost: vhost-net needs model: virtio-net-pci")

    def argv(self, dev_id: str, ctx: Context) -> list[str]:
        if self.backend == "user":
            netdev = f"user,id={dev_id},restrict={'on' if self.restrict else 'off'}"
            for fwd in self.forwards:
                netdev += (f",hostfwd={fwd.protocol}:{fwd.address}:{fwd.host}-:{fwd.guest}")
        else:  # the tap's fds (one a queue), then vhost-net's
            fds = ctx.fds(dev_id)
            taps, vhosts = fds[:self.queues], fds[self.queues:]
            one = self.queues == 1
            netdev = f"tap,id={dev_id}," + (f"fd={taps[0]}" if one else
                                            "fds=" + ":".join(map(str, taps)))
            if self.vhost:
                netdev += ",vhost=on," + (f"vhostfd={vhosts[0]}" if one else
                                          "vhostfds=" + ":".join(map(str, vhosts)))
        device = f"{self.model},netdev={dev_id},id={dev_id}-dev"
        if self.queues > 1:
            device += f",mq=on,vectors={2 * self.queues + 2}"
        if self.mac:
            device += f",mac={self.mac}"
        return ["-netdev", netdev, "-device", device]


@dataclass(frozen=True)
class VhostUser:
    """A device served by a vhost-user backend over a unix socket (guest RAM is shared)."""

    kind: Literal["vhost-user"]
    socket: Path = spec(help="the backend's unix socket")
    type: Literal["blk", "net", "fs"] = "blk"
    tag: str = spec("", help="fs: the mount tag")
    id: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id)
        if self.type == "fs" and not self.tag:
            raise ValueError("tag: a vhost-user fs device needs a mount tag")

    def argv(self, dev_id: str, ctx: Context) -> list[str]:
        chardev = ["-chardev", f"socket,id={dev_id}-chr,path={opt(self.socket)}"]
        if self.type == "blk":
            return chardev + ["-device", f"vhost-user-blk-pci,chardev={dev_id}-chr,id={dev_id}"]
        if self.type == "net":
            return chardev + ["-netdev", f"vhost-user,id={dev_id},chardev={dev_id}-chr",
                              "-device", f"virtio-net-pci,netdev={dev_id},id={dev_id}-dev"]
        return chardev + ["-device", f"vhost-user-fs-pci,chardev={dev_id}-chr,"
                                     f"tag={opt(self.tag)},id={dev_id}"]


@dataclass(frozen=True)
class Share9p:
    """A host folder shared with the guest over virtio-9p."""

    kind: Literal["9p"]
    path: Path = spec(must_exist="folder", help="the host folder")
    tag: str = spec(help="the mount tag the guest uses")
    security: Literal["none", "mapped-xattr", "mapped-file", "passthrough"] = "none"
    readonly: bool = False
    id: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id)
        if not self.tag or len(self.tag) > 31:
            raise ValueError("tag: a 9p mount tag needs 1 to 31 characters")

    def argv(self, dev_id: str, ctx: Context) -> list[str]:
        fsdev = f"local,id={dev_id},path={opt(self.path)},security_model={self.security}"
        if self.readonly:
            fsdev += ",readonly=on"
        return ["-fsdev", fsdev,
                "-device", f"virtio-9p-pci,fsdev={dev_id},mount_tag={opt(self.tag)},"
                           f"id={dev_id}-dev"]


@dataclass(frozen=True)
class Chardev:
    """A character device and the guest device it feeds (serial port, virtio console)."""

    kind: Literal["chardev"]
    backend: Literal["socket", "pty", "pipe", "file"] = "socket"
    path: Path | None = None
    frontend: Literal["serial", "virtconsole", "virtserialport", "none"] = "serial"
    name: str = spec("", help="virtserialport: the port name the guest sees")
    id: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id)
        if self.backend == "pty" and self.path is not None:
            raise ValueError("path: a pty chardev gets its path from QEMU, give none")
        if self.backend != "pty" and self.path is None:
            raise ValueError(f"path: a {self.backend} chardev needs a path")
        if self.frontend == "virtserialport" and not self.name:
            raise ValueError("name: a virtserialport needs a port name")

    def argv(self, dev_id: str, ctx: Context) -> list[str]:
        backend = f"{self.backend},id={dev_id}"
        if self.path is not None:
            backend += f",path={opt(self.path)}"
        if self.backend == "socket":
            backend += ",server=on,wait=off"
        out = ["-chardev", backend]
        if self.frontend == "serial":
            out += ["-device", f"isa-serial,chardev={dev_id},id={dev_id}-dev"]
        elif self.frontend in ("virtconsole", "virtserialport"):
            out += ctx.once("virtio-serial",
                            ["-device", f"virtio-serial-pci,id={OWN_PREFIX}vserial"])
            device = f"{self.frontend},chardev={dev_id},id={dev_id}-dev"
            if self.name:
                device += f",name={opt(self.name)}"
            out += ["-device", device]
        return out


@dataclass(frozen=True)
class Serial:
    """A virtio-serial controller (ports attach to it)."""

    kind: Literal["serial"]
    id: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id)

    def argv(self, dev_id: str, ctx: Context) -> list[str]:
        return ["-device", f"virtio-serial-pci,id={dev_id}"]


@dataclass(frozen=True)
class Nvdimm:
    """Persistent memory backed by a host file (needs mem_slots and mem_max)."""

    kind: Literal["nvdimm"]
    file: Path = spec(must_exist=True, help="backing file, at least size bytes")
    size: Size = spec(min=1 << 20, max=1 << 40)
    id: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id)

    def argv(self, dev_id: str, ctx: Context) -> list[str]:
        return ["-object", f"memory-backend-file,id={dev_id}-mem,mem-path={opt(self.file)},"
                           f"size={self.size.mib}M,share=on",
                "-device", f"nvdimm,id={dev_id},memdev={dev_id}-mem"]


@dataclass(frozen=True)
class Vfio:
    """A host PCI device passed through with VFIO."""

    kind: Literal["vfio"]
    host: str = spec(help="PCI address, 0000:01:00.0")
    id: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id)
        if not BDF_RE.match(self.host):
            raise ValueError(f"host: {self.host!r} is not a PCI address like 0000:01:00.0")

    def argv(self, dev_id: str, ctx: Context) -> list[str]:
        return ["-device", f"vfio-pci,host={self.host},id={dev_id}"]


@dataclass(frozen=True)
class Bridge:
    """A PCI bridge (pc) or a PCIe root port (q35)."""

    kind: Literal["bridge"]
    type: Literal["pci", "pcie"] = "pci"
    chassis: int = spec(0, min=0, max=255, help="0: the next free chassis number")
    id: str = ""

    def __post_init__(self) -> None:
        _check_id(self.id)

    def argv(self, dev_id: str, ctx: Context) -> list[str]:
        chassis = ctx.chassis(dev_id)
        if self.type == "pcie":
            if not ctx.machine.startswith("q35"):
                raise ValueError(f"a pcie bridge needs machine: q35 (not {ctx.machine})")
            return ["-device", f"pcie-root-port,id={dev_id},chassis={chassis},slot=0"]
        return ["-device", f"pci-bridge,id={dev_id},chassis_nr={chassis}"]


Device = Block | Net | VhostUser | Share9p | Chardev | Serial | Nvdimm | Vfio | Bridge
