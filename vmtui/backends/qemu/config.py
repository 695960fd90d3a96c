"""The ``vm:`` section of a QEMU pool and the QEMU command line it yields."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vmtui.backends.config.schema import Size, spec, varies
from vmtui.backends.qemu.devices import OWN_PREFIX, Device, Net, opt
from vmtui.backends.qemu.layout import ArgvContext, bridge_chassis, device_ids
from vmtui.backends.qemu.listeners import tcp_listeners
from vmtui.backends.qemu.perinstance import check_pool, default_mac, default_uuid

# One place for the default guest memory; the bounds follow a KVM VMM's
# rules: at least 1 MiB, at most 1 TiB.
DEFAULT_MEM = Size(256 << 20)
MIN_MEM = 1 << 20
MAX_MEM = 1 << 40
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
GLOBAL_RE = re.compile(r"^[\w.-]+\.[\w-]+=.+$")


@dataclass(frozen=True)
class FwCfg:
    """A firmware configuration entry the guest reads from /sys/firmware/qemu_fw_cfg."""

    name: str = spec(help="opt/vendor/name")
    file: Path | None = spec(None, must_exist=True, help="its contents from a file")
    string: str = spec("", help="or from a string")

    def __post_init__(self) -> None:
        if not self.name.startswith("opt/") or len(self.name) > 55:
            raise ValueError(f"name: {self.name!r} must start with opt/ (at most 55 "
                             "characters)")
        if (self.file is None) == (not self.string):
            raise ValueError("file: give a file or a string, one of them")


DAEMONIZE_REFUSED = ("vmtui owns each QEMU process (its console, its exit, its death with "
                     "vmtui); a daemonized QEMU escapes it")


@dataclass(frozen=True)
class QemuConfig:
    """How to start each QEMU instance of a pool (kata's launcher vocabulary)."""

    kernel: Path | None = spec(None, must_exist=True, help="kernel image booted with -kernel; "
                               "none: the firmware boots the first disk")
    initrd: Path | None = spec(None, must_exist=True, help="initramfs given with -initrd")
    append: str = spec("console=ttyS0", help="kernel command line")
    firmware: Literal["bios", "uefi"] = spec("bios", help="uefi: OVMF, its variable store "
                                             "copied per instance")
    ovmf_code: Path = spec(Path("/usr/share/OVMF/OVMF_CODE_4M.fd"), help="uefi: firmware code")
    ovmf_vars: Path = spec(Path("/usr/share/OVMF/OVMF_VARS_4M.fd"),
                           help="uefi: the variable store each instance starts from")
    qemu: str = spec("qemu-system-x86_64", help="QEMU binary (name on PATH or a path)")
    machine: str = spec("pc", help="machine type (-M): pc or q35 (and their versions)")
    accel: Literal["tcg", "kvm", "auto"] = spec("tcg", help="accelerator; auto: KVM if usable")
    cpu: str = spec("", help="CPU model (-cpu), e.g. max; host needs KVM")
    cpus: int = spec(1, min=1, max=288, help="virtual CPUs at start")
    maxcpus: int = spec(0, min=0, max=288, help="hot-pluggable maximum (0: same as cpus)")
    sockets: int = spec(0, min=0, max=288)
    cores: int = spec(0, min=0, max=288)
    threads: int = spec(0, min=0, max=288)
    mem: Size = spec(DEFAULT_MEM, min=MIN_MEM, max=MAX_MEM, help="memory, 256M or 2G")
    mem_slots: int = spec(0, min=0, max=256, help="hot-plug memory slots")
    mem_max: Size | None = spec(None, min=MIN_MEM, max=MAX_MEM, help="maximum memory")
    bios: Path | None = spec(None, must_exist=True, help="firmware image (-bios)")
    uuid: str = spec("", help="system UUID")
    rtc_base: Literal["utc", "localtime"] = "utc"
    rtc_clock: Literal["host", "rt", "vm"] = "host"
    rtc_driftfix: Literal["none", "slew"] = "none"
    globals: list[str] = spec(default_factory=list, help="-global DRIVER.PROP=VALUE")
    vga: Literal["none", "std", "virtio", "qxl", "cirrus"] = "none"
    no_user_config: bool = True
    nodefaults: bool = True
    nographic: bool = False
    hugepages: bool = spec(False, help="back guest RAM with /dev/hugepages")
    mem_prealloc: bool = False
    mlock: bool = spec(False, help="lock guest RAM in host memory")
    daemonize: bool = spec(False, help="refused: vmtui manages the process",
                           refuse=DAEMONIZE_REFUSED)
    boot_parallel: int | None = spec(None, min=0, max=1024, help="VMs of this pool booting at "
                                     "once (0: no limit); unset: one per host CPU, shared by "
                                     "every local QEMU pool")
    network: bool = spec(True, help="user-mode network (restrict=on) with SSH forwarded")
    panic: Literal["pause", "shutdown", "none"] = spec(
        "pause", help="pvpanic: on a guest panic QEMU pauses it (evidence kept) or exits")
    rng: bool = spec(False, help="a virtio-rng device fed by the host's /dev/urandom")
    balloon: bool = spec(False, help="a virtio-balloon device")
    iommu: bool = spec(False, help="an emulated Intel IOMMU (machine: q35)")
    no_reboot: bool = spec(False, help="a guest reboot (or triple fault) ends the VM")
    start_paused: bool = spec(False, help="start with the vCPUs stopped (-S), so gdb can "
                                          "attach before the first instruction; resume to boot")
    vsock_cid: int = spec(0, min=0, max=0xFFFFFFFF, help="a vhost-vsock device: instance N "
                                                         "gets CID vsock_cid+N (0: none)")
    fw_cfg: list[FwCfg] = spec(default_factory=list, help="fw_cfg entries (opt/...)")
    qmp_sockets: list[Path] = spec(default_factory=list, help="extra QMP sockets for tools")
    devices: list[Device] = spec(default_factory=list, help="block, net, 9p, chardev, ...")
    qemu_args: list[str] = spec(default_factory=list, help="extra arguments, appended as-is")

    def __post_init__(self) -> None:
        for name in ("append", "qemu", "machine", "cpu", "globals", "qemu_args"):
            value = getattr(self, name)
            if any("\0" in v for v in (value if isinstance(value, list) else [value])):
                raise ValueError(f"{name}: contains a NUL byte (no command line can hold one)")
        if self.kernel is None and self.initrd is not None:
            raise ValueError("initrd: an initramfs needs a kernel")
        if self.kernel is None and not any(d.kind == "block" for d in self.devices):
            raise ValueError("kernel: without a kernel the firmware boots the first disk: "
                             "give a kernel or a block device")
        if self.firmware == "uefi" and self.bios is not None:
            raise ValueError("bios: firmware: uefi brings its own firmware (ovmf_code)")
        for name in ("ovmf_code", "ovmf_vars") if self.firmware == "uefi" else ():
            if not getattr(self, name).is_file():
                raise ValueError(f"{name}: {getattr(self, name)} not found (firmware: uefi): "
                                 "install the ovmf package")
        if listeners := tcp_listeners(self.qemu_args):
            raise ValueError(listeners[0])
        if self.daemonize:  # the loader says so beside other problems; this for Python
            raise ValueError(f"daemonize: refused: {DAEMONIZE_REFUSED}")
        if self.uuid and not varies(self.uuid) and not UUID_RE.match(self.uuid):
            raise ValueError(f"uuid: {self.uuid!r} is not a UUID")
        for i, item in enumerate(self.globals):
            if not GLOBAL_RE.match(item):
                raise ValueError(f"globals[{i}]: {item!r} is not DRIVER.PROPERTY=VALUE")
        if self.maxcpus and self.maxcpus < self.cpus:
            raise ValueError(f"maxcpus: {self.maxcpus} is less than cpus ({self.cpus})")
        topology = [n for n in (self.sockets, self.cores, self.threads) if n]
        if topology and len(topology) < 3:
            raise ValueError("sockets: give sockets, cores and threads together")
        if topology:
            product = self.sockets * self.cores * self.threads
            want = self.maxcpus or self.cpus
            if product != want:
                raise ValueError(f"sockets: sockets*cores*threads = {product} must equal "
                                 f"{'maxcpus' if self.maxcpus else 'cpus'} ({want})")
        if self.machine.split(",")[0].startswith("microvm"):
            raise ValueError("machine: microvm is not supported: vmtui's devices (its SSH "
                             "network, disks, pvpanic) are PCI devices and microvm has no PCI "
                             "bus; use pc or q35")
        if self.mem_slots and self.mem_max is None:
            raise ValueError("mem_max: memory slots need mem_max")
        if self.mem_max is not None and not self.mem_slots:
            raise ValueError("mem_slots: mem_max needs memory slots to grow into "
                             "(mem_slots >= 1)")
        if self.mem_max is not None and self.mem_max <= self.mem:
            raise ValueError(f"mem_max: {self.mem_max} must be more than mem ({self.mem}): "
                             "QEMU refuses slots with no room to hot-plug into")
        if self.iommu and not self.machine.startswith("q35"):
            raise ValueError(f"iommu: the Intel IOMMU needs machine: q35 (not {self.machine})")
        if self.vsock_cid and self.vsock_cid < 3:
            raise ValueError(f"vsock_cid: {self.vsock_cid} is reserved (0 to 2): use 3 or more")
        names = [f.name for f in self.fw_cfg]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"fw_cfg[{i}].name: {name!r} is given twice")
        if self.nographic and self.vga != "none":
            raise ValueError("nographic: cannot be combined with a vga device")
        self._check_devices()
        self._check_sockets()

    def _check_sockets(self) -> None:
        """A unix socket's path fits in 107 bytes (sun_path), or QEMU cannot bind it."""
        paths: list[tuple[str, Path | None]] = [
            (f"qmp_sockets[{i}]", p) for i, p in enumerate(self.qmp_sockets)]
        paths += [(f"devices[{i}].{'socket' if d.kind == 'vhost-user' else 'path'}",
                   d.socket if d.kind == "vhost-user" else d.path)
                  for i, d in enumerate(self.devices)
                  if d.kind == "vhost-user" or (d.kind == "chardev" and d.backend == "socket")]
        for where, path in paths:
            if path is not None and len(os.fsencode(path)) > 107:
                raise ValueError(f"{where}: a unix socket path is at most 107 bytes "
                                 f"({len(os.fsencode(path))} given)")

    def _check_devices(self) -> None:
        seen: dict[str, int] = {}
        for i, dev_id in enumerate(device_ids(self.devices)):
            if dev_id in seen:
                raise ValueError(f"devices[{i}].id: {dev_id!r} is already used by "
                                 f"devices[{seen[dev_id]}]")
            seen[dev_id] = i
        nvdimm = sum(d.size for d in self.devices if d.kind == "nvdimm")
        for i, dev in enumerate(self.devices):
            if dev.kind == "nvdimm" and (not self.mem_slots or self.mem_max is None
                                         or self.mem_max < self.mem + nvdimm):
                raise ValueError(f"devices[{i}]: an nvdimm needs mem_slots >= 1 and mem_max "
                                 f">= mem + every nvdimm size ({Size(self.mem + nvdimm)})")
            if dev.kind == "bridge" and dev.type == "pcie" and not self.machine.startswith("q35"):
                raise ValueError(f"devices[{i}].type: a pcie bridge needs machine: q35 "
                                 f"(not {self.machine})")
        bridge_chassis(self.devices)  # two bridges on one chassis number are refused

    def check_pool(self, names: list[str]) -> None:
        """What the pool's instances cannot share (see perinstance)."""
        check_pool(self, names)

    @property
    def shared_memory(self) -> bool:
        """vhost-user backends map guest RAM, so it must be a shared memfd."""
        return any(d.kind == "vhost-user" for d in self.devices)


@dataclass(frozen=True)
class LaunchPlan:
    """Per-instance facts the command line needs beside the config."""

    name: str
    qmp_socket: Path
    ssh_port: int | None
    accel: str
    fds: dict[str, list[int]] = field(default_factory=dict)
    uefi_vars: Path | None = None  # this instance's copy of the UEFI variable store
    index: int = 0  # the instance's number in its pool


def build_argv(cfg: QemuConfig, plan: LaunchPlan) -> list[str]:
    """The QEMU argv for one instance. No shell ever sees it."""
    machine = cfg.machine
    if any(d.kind == "nvdimm" for d in cfg.devices):
        machine += ",nvdimm=on"
    if cfg.shared_memory:
        machine += f",memory-backend={OWN_PREFIX}mem"
    mem = f"{cfg.mem.mib}M"
    if cfg.mem_slots:
        assert cfg.mem_max is not None
        mem += f",slots={cfg.mem_slots},maxmem={cfg.mem_max.mib}M"
    smp = str(cfg.cpus)
    if cfg.maxcpus:
        smp += f",maxcpus={cfg.maxcpus}"
    if cfg.sockets:
        smp += f",sockets={cfg.sockets},cores={cfg.cores},threads={cfg.threads}"
    argv = [cfg.qemu, "-name", f"{plan.name},debug-threads=on", "-M", machine,
            "-accel", plan.accel, "-m", mem, "-smp", smp]
    if cfg.cpu:
        argv += ["-cpu", cfg.cpu]
    if cfg.nodefaults:
        argv.append("-nodefaults")
    if cfg.no_user_config:
        argv.append("-no-user-config")
    # -nographic and -display exclude each other.
    argv += ["-nographic"] if cfg.nographic else ["-display", "none"]
    argv += [
        # The serial console is QEMU's stdio: stdout is read, stdin is typed
        # into; signal=off keeps a ^C from the guest stream out of QEMU.
        "-chardev", f"stdio,id={OWN_PREFIX}console,signal=off",
        "-serial", f"chardev:{OWN_PREFIX}console",
        "-qmp", f"unix:{opt(plan.qmp_socket)},server=on,wait=off",
    ]
    for extra in cfg.qmp_sockets:
        argv += ["-qmp", f"unix:{opt(extra)},server=on,wait=off"]
    if cfg.kernel is not None:
        argv += ["-kernel", str(cfg.kernel), "-append", cfg.append]
    if cfg.initrd is not None:
        argv += ["-initrd", str(cfg.initrd)]
    if cfg.firmware == "uefi":
        assert plan.uefi_vars is not None
        argv += ["-drive", f"if=pflash,format=raw,unit=0,file={opt(cfg.ovmf_code)},readonly=on",
                 "-drive", f"if=pflash,format=raw,unit=1,file={opt(plan.uefi_vars)}"]
    if cfg.bios is not None:
        argv += ["-bios", str(cfg.bios)]
    argv += ["-uuid", cfg.uuid or default_uuid(plan.name)]
    if (cfg.rtc_base, cfg.rtc_clock, cfg.rtc_driftfix) != ("utc", "host", "none"):
        argv += ["-rtc", f"base={cfg.rtc_base},clock={cfg.rtc_clock},"
                         f"driftfix={cfg.rtc_driftfix}"]
    for item in cfg.globals:
        argv += ["-global", item]
    if cfg.vga != "none":
        argv += ["-vga", cfg.vga]
    if cfg.shared_memory:
        # Once RAM is a backend object, -mem-path and -mem-prealloc no longer
        # apply: hugepages and preallocation go on the backend itself.
        backend = ("memory-backend-file,mem-path=/dev/hugepages" if cfg.hugepages
                   else "memory-backend-memfd")
        backend += f",id={OWN_PREFIX}mem,size={cfg.mem.mib}M,share=on"
        if cfg.mem_prealloc:
            backend += ",prealloc=on"
        argv += ["-object", backend]
    else:
        if cfg.hugepages:
            argv += ["-mem-path", "/dev/hugepages"]
        if cfg.mem_prealloc:
            argv.append("-mem-prealloc")
    if cfg.mlock:
        argv += ["-overcommit", "mem-lock=on"]
    if cfg.no_reboot:
        argv.append("-no-reboot")
    if cfg.start_paused:
        argv.append("-S")
    if cfg.iommu:
        argv += ["-device", f"intel-iommu,id={OWN_PREFIX}iommu"]
    if cfg.rng:
        argv += ["-object", f"rng-random,id={OWN_PREFIX}rng,filename=/dev/urandom",
                 "-device", f"virtio-rng-pci,rng={OWN_PREFIX}rng,id={OWN_PREFIX}rng-dev"]
    if cfg.balloon:
        argv += ["-device", f"virtio-balloon-pci,id={OWN_PREFIX}balloon"]
    if cfg.vsock_cid:
        argv += ["-device", f"vhost-vsock-pci,id={OWN_PREFIX}vsock,"
                            f"guest-cid={cfg.vsock_cid + plan.index}"]
    for entry in cfg.fw_cfg:
        value = f"file={opt(entry.file)}" if entry.file is not None else \
            f"string={opt(entry.string)}"
        argv += ["-fw_cfg", f"name={opt(entry.name)},{value}"]
    if cfg.panic != "none" and cfg.machine.startswith(("pc", "q35")):
        # The guest's panic notifier tells QEMU (GUEST_PANICKED); pausing keeps
        # the panicked CPUs' state for registers and a debugger.
        argv += ["-device", "pvpanic", "-action", f"panic={cfg.panic}"]
    if cfg.network and plan.ssh_port is not None:
        argv += [
            "-netdev",
            f"user,id={OWN_PREFIX}ssh,restrict=on,hostfwd=tcp:127.0.0.1:{plan.ssh_port}-:22",
            "-device", f"virtio-net-pci,netdev={OWN_PREFIX}ssh,id={OWN_PREFIX}ssh-dev",
        ]
    ids = device_ids(cfg.devices)
    boot = next((i for d, i in zip(cfg.devices, ids, strict=True) if d.kind == "block"), "")
    ctx = ArgvContext(machine=cfg.machine, opened=plan.fds,
                      chassis_of=bridge_chassis(cfg.devices),
                      boot_device=boot if cfg.kernel is None else "")
    for dev, dev_id in zip(cfg.devices, device_ids(cfg.devices), strict=True):
        if isinstance(dev, Net) and not dev.mac:  # each instance its own MAC
            dev = dataclasses.replace(dev, mac=default_mac(plan.name, dev_id))
        argv += dev.argv(dev_id, ctx)
    return argv + list(cfg.qemu_args)
