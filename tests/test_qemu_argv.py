"""The QEMU command line a config yields, device by device, and what is refused."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from vmtui.backends.config.schema import ConfigError, load_section
from vmtui.backends.qemu.config import LaunchPlan, QemuConfig, build_argv
from vmtui.backends.qemu.perinstance import default_mac, default_uuid


@pytest.fixture
def d(tmp_path: Path) -> Path:
    for name in ("vmlinuz", "initrd", "disk.img", "disk.qcow2", "pmem.img", "bios.bin"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "share").mkdir()
    return tmp_path


def load(d: Path, **vm: Any) -> QemuConfig:
    data = {"kernel": "vmlinuz", **vm}
    return load_section(QemuConfig, data, file="pool.yaml", path="vm", base_dir=d)


def plan(**kw: Any) -> LaunchPlan:
    args: dict[str, Any] = {"name": "p-0", "qmp_socket": Path("/run/x/p-0.qmp"),
                            "ssh_port": 2222, "accel": "tcg"}
    args.update(kw)
    return LaunchPlan(**args)


def argv(d: Path, **vm: Any) -> list[str]:
    return build_argv(load(d, **vm), plan())


def pairs(args: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for a, b in itertools.pairwise(args) if a.startswith("-")]


def test_base_argv(d: Path) -> None:
    assert argv(d, initrd="initrd", append="console=ttyS0 quiet", cpus=2, mem="512M",
                qemu_args=["-no-shutdown"]) == [
        "qemu-system-x86_64", "-name", "p-0,debug-threads=on", "-M", "pc", "-accel", "tcg",
        "-m", "512M", "-smp", "2", "-nodefaults", "-no-user-config", "-display", "none",
        "-chardev", "stdio,id=vmtui-console,signal=off", "-serial", "chardev:vmtui-console",
        "-qmp", "unix:/run/x/p-0.qmp,server=on,wait=off",
        "-kernel", f"{d}/vmlinuz", "-append", "console=ttyS0 quiet", "-initrd", f"{d}/initrd",
        "-uuid", default_uuid("p-0"),  # each instance its own
        "-device", "pvpanic", "-action", "panic=pause",
        "-netdev", "user,id=vmtui-ssh,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22",
        "-device", "virtio-net-pci,netdev=vmtui-ssh,id=vmtui-ssh-dev", "-no-shutdown",
    ]


# (vm settings, option pairs that must appear in the argv)
KNOBS: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
    ({"mem": 1024}, [("-m", "1024M")]),
    ({"panic": "shutdown"}, [("-action", "panic=shutdown")]),
    ({"mem": "2G", "mem_slots": 2, "mem_max": "4G"}, [("-m", "2048M,slots=2,maxmem=4096M")]),
    ({"cpus": 2, "maxcpus": 4, "sockets": 2, "cores": 2, "threads": 1},
     [("-smp", "2,maxcpus=4,sockets=2,cores=2,threads=1")]),
    ({"cpu": "max"}, [("-cpu", "max")]),
    ({"machine": "q35"}, [("-M", "q35")]),
    ({"bios": "bios.bin"}, [("-bios", "{d}/bios.bin")]),
    ({"uuid": "12345678-1234-1234-1234-123456789abc"},
     [("-uuid", "12345678-1234-1234-1234-123456789abc")]),
    ({"rtc_base": "localtime", "rtc_clock": "vm", "rtc_driftfix": "slew"},
     [("-rtc", "base=localtime,clock=vm,driftfix=slew")]),
    ({"globals": ["kvm-pit.lost_tick_policy=discard"]},
     [("-global", "kvm-pit.lost_tick_policy=discard")]),
    ({"vga": "std"}, [("-vga", "std")]),
    ({"hugepages": True}, [("-mem-path", "/dev/hugepages")]),
    ({"mlock": True}, [("-overcommit", "mem-lock=on")]),
    ({"qmp_sockets": ["/tmp/extra.qmp"]}, [("-qmp", "unix:/tmp/extra.qmp,server=on,wait=off")]),
    ({"devices": [{"kind": "block", "file": "disk.qcow2", "format": "qcow2", "cache": "none",
                   "aio": "native", "readonly": True}]},
     [("-drive", "file={d}/disk.qcow2,if=none,id=disk0,format=qcow2,cache=none,aio=native,"
                 "readonly=on"), ("-device", "virtio-blk-pci,drive=disk0,id=disk0-dev")]),
    ({"devices": [{"kind": "block", "file": "disk.img", "interface": "scsi", "snapshot": True},
                  {"kind": "block", "file": "disk.img", "interface": "scsi", "id": "b"}]},
     [("-device", "virtio-scsi-pci,id=vmtui-scsi"),
      ("-drive", "file={d}/disk.img,if=none,id=disk0,format=raw,cache=writeback,aio=threads,"
                 "snapshot=on"),
      ("-device", "scsi-hd,drive=disk0,bus=vmtui-scsi.0,id=disk0-dev"),
      ("-device", "scsi-hd,drive=b,bus=vmtui-scsi.0,id=b-dev")]),
    ({"devices": [{"kind": "block", "file": "disk.img", "interface": "ide"}]},
     [("-device", "ide-hd,drive=disk0,id=disk0-dev")]),
    ({"devices": [{"kind": "block", "file": "disk.img", "interface": "nvme"}]},
     [("-device", "nvme,drive=disk0,serial=disk0,id=disk0-dev")]),
    ({"devices": [{"kind": "net", "mac": "52:54:00:12:34:56",
                   "forwards": [{"host": 8080, "guest": 80}, {"host": 5353, "guest": 53,
                                                               "protocol": "udp"}]}]},
     [("-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:8080-:80,"
                  "hostfwd=udp:127.0.0.1:5353-:53"),
      ("-device", "virtio-net-pci,netdev=net0,id=net0-dev,mac=52:54:00:12:34:56")]),
    ({"devices": [{"kind": "net", "model": "e1000", "restrict": False}]},
     [("-netdev", "user,id=net0,restrict=off"),
      ("-device", f"e1000,netdev=net0,id=net0-dev,mac={default_mac('p-0', 'net0')}")]),
    ({"devices": [{"kind": "vhost-user", "socket": "/run/vu.sock"}]},
     [("-M", "pc,memory-backend=vmtui-mem"),
      ("-object", "memory-backend-memfd,id=vmtui-mem,size=256M,share=on"),
      ("-chardev", "socket,id=vhu0-chr,path=/run/vu.sock"),
      ("-device", "vhost-user-blk-pci,chardev=vhu0-chr,id=vhu0")]),
    ({"devices": [{"kind": "vhost-user", "type": "net", "socket": "/run/n.sock"}]},
     [("-netdev", "vhost-user,id=vhu0,chardev=vhu0-chr"),
      ("-device", "virtio-net-pci,netdev=vhu0,id=vhu0-dev")]),
    ({"devices": [{"kind": "vhost-user", "type": "fs", "socket": "/run/f.sock", "tag": "t"}]},
     [("-device", "vhost-user-fs-pci,chardev=vhu0-chr,tag=t,id=vhu0")]),
    ({"devices": [{"kind": "9p", "path": "share", "tag": "host", "readonly": True}]},
     [("-fsdev", "local,id=fs0,path={d}/share,security_model=none,readonly=on"),
      ("-device", "virtio-9p-pci,fsdev=fs0,mount_tag=host,id=fs0-dev")]),
    ({"devices": [{"kind": "chardev", "backend": "socket", "path": "/tmp/s.sock"}]},
     [("-chardev", "socket,id=chr0,path=/tmp/s.sock,server=on,wait=off"),
      ("-device", "isa-serial,chardev=chr0,id=chr0-dev")]),
    ({"devices": [{"kind": "chardev", "backend": "pty", "frontend": "virtconsole"}]},
     [("-chardev", "pty,id=chr0"), ("-device", "virtio-serial-pci,id=vmtui-vserial"),
      ("-device", "virtconsole,chardev=chr0,id=chr0-dev")]),
    ({"devices": [{"kind": "chardev", "backend": "file", "path": "/tmp/o.log",
                   "frontend": "virtserialport", "name": "org.test.0"}]},
     [("-chardev", "file,id=chr0,path=/tmp/o.log"),
      ("-device", "virtserialport,chardev=chr0,id=chr0-dev,name=org.test.0")]),
    ({"devices": [{"kind": "chardev", "backend": "pipe", "path": "/tmp/p", "frontend": "none"}]},
     [("-chardev", "pipe,id=chr0,path=/tmp/p")]),
    ({"devices": [{"kind": "serial"}]}, [("-device", "virtio-serial-pci,id=vser0")]),
    ({"mem_slots": 1, "mem_max": "1G",
      "devices": [{"kind": "nvdimm", "file": "pmem.img", "size": "64M"}]},
     [("-M", "pc,nvdimm=on"), ("-m", "256M,slots=1,maxmem=1024M"),
      ("-object", "memory-backend-file,id=nvdimm0-mem,mem-path={d}/pmem.img,size=64M,share=on"),
      ("-device", "nvdimm,id=nvdimm0,memdev=nvdimm0-mem")]),
    ({"devices": [{"kind": "vfio", "host": "0000:01:00.0"}]},
     [("-device", "vfio-pci,host=0000:01:00.0,id=vfio0")]),
    # Two root ports: each its own chassis (QEMU refuses two on chassis 1 slot 0).
    ({"machine": "q35", "devices": [{"kind": "bridge", "type": "pcie"},
                                    {"kind": "bridge", "type": "pcie", "chassis": 1}]},
     [("-device", "pcie-root-port,id=br0,chassis=2,slot=0"),
      ("-device", "pcie-root-port,id=br1,chassis=1,slot=0")]),
    # With RAM a shared backend (vhost-user), hugepages and prealloc go on the backend.
    ({"hugepages": True, "mem_prealloc": True,
      "devices": [{"kind": "vhost-user", "type": "blk", "socket": "share"}]},
     [("-object", "memory-backend-file,mem-path=/dev/hugepages,id=vmtui-mem,size=256M,"
                  "share=on,prealloc=on")]),
    ({"rng": True, "balloon": True, "no_reboot": True, "start_paused": True},
     [("-object", "rng-random,id=vmtui-rng,filename=/dev/urandom"),
      ("-device", "virtio-rng-pci,rng=vmtui-rng,id=vmtui-rng-dev"),
      ("-device", "virtio-balloon-pci,id=vmtui-balloon"), ("-no-reboot", "-S")]),
    ({"machine": "q35", "iommu": True}, [("-device", "intel-iommu,id=vmtui-iommu")]),
    ({"vsock_cid": 10}, [("-device", "vhost-vsock-pci,id=vmtui-vsock,guest-cid=10")]),
    ({"fw_cfg": [{"name": "opt/vmtui/who", "string": "a,b"}]},
     [("-fw_cfg", "name=opt/vmtui/who,string=a,,b")]),
    ({"devices": [{"kind": "block", "file": "disk.img", "serial": "S1", "discard": True,
                   "iothread": True}]},
     [("-drive", "file={d}/disk.img,if=none,id=disk0,format=raw,cache=writeback,aio=threads,"
                 "discard=unmap"),
      ("-object", "iothread,id=disk0-io"),
      ("-device", "virtio-blk-pci,drive=disk0,id=disk0-dev,serial=S1,iothread=disk0-io")]),
    ({"devices": [{"kind": "bridge", "chassis": 3}]},
     [("-device", "pci-bridge,id=br0,chassis_nr=3")]),
    ({"machine": "q35", "devices": [{"kind": "bridge", "type": "pcie"}]},
     [("-device", "pcie-root-port,id=br0,chassis=1,slot=0")]),
]


@pytest.mark.parametrize(("vm", "expected"), KNOBS, ids=[
    "+".join(sorted(vm)) if "devices" not in vm else
    "devices:" + ",".join(dev["kind"] for dev in vm["devices"]) for vm, _ in KNOBS])
def test_knob_and_device_argv(d: Path, vm: dict[str, Any],
                              expected: list[tuple[str, str]]) -> None:
    got = pairs(argv(d, **vm))
    for option, value in expected:
        assert (option, value.format(d=d)) in got


def test_tap_uses_passed_descriptors(d: Path) -> None:
    cfg = load(d, devices=[{"kind": "net", "backend": "tap", "ifname": "tap0", "vhost": True}])
    got = pairs(build_argv(cfg, plan(fds={"net0": [7, 8]})))
    assert ("-netdev", "tap,id=net0,fd=7,vhost=on,vhostfd=8") in got
    with pytest.raises(ValueError, match="were not opened"):
        build_argv(cfg, plan())


def test_a_multiqueue_tap_gets_a_descriptor_a_queue(d: Path) -> None:
    cfg = load(d, devices=[{"kind": "net", "backend": "tap", "vhost": True, "queues": 2}])
    got = pairs(build_argv(cfg, plan(fds={"net0": [7, 8, 9, 10]})))
    assert ("-netdev", "tap,id=net0,fds=7:8,vhost=on,vhostfds=9:10") in got
    assert any(a == "-device" and b.startswith("virtio-net-pci,netdev=net0,id=net0-dev,"
                                               "mq=on,vectors=6") for a, b in got)
    with pytest.raises(ConfigError, match="queues: multiqueue needs backend: tap"):
        load(d, devices=[{"kind": "net", "queues": 2}])


def test_commas_in_paths_are_escaped(d: Path) -> None:
    odd = d / "a,b"
    odd.mkdir()
    got = pairs(argv(d, devices=[{"kind": "9p", "path": "a,b", "tag": "t"}]))
    assert ("-fsdev", f"local,id=fs0,path={d}/a,,b,security_model=none") in got


def test_nographic_replaces_display(d: Path) -> None:
    args = argv(d, nographic=True)
    assert "-nographic" in args and "-display" not in args


# (vm settings, the exact error after "pool.yaml: ")
REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"daemonize": True}, "vm.daemonize: refused: vmtui owns each QEMU process (its console, "
     "its exit, its death with vmtui); a daemonized QEMU escapes it"),
    ({"mem": "512K"}, "vm.mem: 512K is out of range (allowed: 1M to 1T)"),
    ({"mem": "1T"}, ""),
    ({"mem": "2048G"}, "vm.mem: 2T is out of range (allowed: 1M to 1T)"),
    ({"uuid": "nope"}, "vm.uuid: 'nope' is not a UUID"),
    ({"globals": ["nonsense"]}, "vm.globals[0]: 'nonsense' is not DRIVER.PROPERTY=VALUE"),
    ({"cpus": 4, "maxcpus": 2}, "vm.maxcpus: 2 is less than cpus (4)"),
    ({"sockets": 2}, "vm.sockets: give sockets, cores and threads together"),
    ({"cpus": 4, "sockets": 1, "cores": 2, "threads": 1},
     "vm.sockets: sockets*cores*threads = 2 must equal cpus (4)"),
    ({"mem_slots": 2}, "vm.mem_max: memory slots need mem_max"),
    ({"mem": "1G", "mem_max": "512M", "mem_slots": 1},
     "vm.mem_max: 512M must be more than mem (1G): QEMU refuses slots with no room to hot-plug "
     "into"),
    ({"mem": "1G", "mem_max": "1G", "mem_slots": 1},
     "vm.mem_max: 1G must be more than mem (1G): QEMU refuses slots with no room to hot-plug "
     "into"),
    ({"mem_max": "1G"}, "vm.mem_slots: mem_max needs memory slots to grow into (mem_slots >= 1)"),
    ({"machine": "microvm"}, "vm.machine: microvm is not supported: vmtui's devices (its SSH "
     "network, disks, pvpanic) are PCI devices and microvm has no PCI bus; use pc or q35"),
    ({"devices": [{"kind": "net", "mac": "01:00:5e:00:00:01"}]},
     "vm.devices[0].mac: '01:00:5e:00:00:01' is a multicast address (its first byte is odd); "
     "a NIC needs a unicast one like 52:54:00:12:34:56"),
    ({"devices": [{"kind": "bridge", "chassis": 2}, {"kind": "bridge", "chassis": 2}]},
     "vm.devices[1].chassis: 2 is already used by devices[0]"),
    ({"iommu": True}, "vm.iommu: the Intel IOMMU needs machine: q35 (not pc)"),
    ({"vsock_cid": 2}, "vm.vsock_cid: 2 is reserved (0 to 2): use 3 or more"),
    ({"fw_cfg": [{"name": "etc/x", "string": "s"}]},
     "vm.fw_cfg[0].name: 'etc/x' must start with opt/ (at most 55 characters)"),
    ({"fw_cfg": [{"name": "opt/x"}]}, "vm.fw_cfg[0].file: give a file or a string, one of them"),
    ({"devices": [{"kind": "block", "file": "disk.img", "interface": "ide", "iothread": True}]},
     "vm.devices[0].iothread: an ide disk has no iothread (interface: virtio or scsi)"),
    ({"devices": [{"kind": "net", "id": "vmtui-ssh"}]},
     "vm.devices[0].id: 'vmtui-ssh' is reserved: vmtui's own ids start with 'vmtui-', and a "
     "device's parts end in -dev, -mem, -chr or -io"),
    ({"nographic": True, "vga": "std"}, "vm.nographic: cannot be combined with a vga device"),
    ({"devices": [{"file": "disk.img"}]},
     "vm.devices[0].kind: missing required key (one of block, net, vhost-user, 9p, chardev, "
     "serial, nvdimm, vfio, bridge)"),
    ({"devices": [{"kind": "floppy"}]}, "vm.devices[0].kind: a string 'floppy' is not one of "
     "block, net, vhost-user, 9p, chardev, serial, nvdimm, vfio, bridge"),
    ({"devices": [{"kind": "block"}]}, "vm.devices[0].file: missing required key"),
    ({"devices": [{"kind": "block", "file": "nope.img"}]},
     "vm.devices[0].file: file not found: {d}/nope.img"),
    ({"devices": [{"kind": "block", "file": "disk.img", "aio": "native"}]},
     "vm.devices[0].aio: native needs cache: none or directsync (O_DIRECT)"),
    ({"devices": [{"kind": "block", "file": "disk.img", "readonly": True, "snapshot": True}]},
     "vm.devices[0].snapshot: a read-only disk needs no overlay"),
    ({"devices": [{"kind": "block", "file": "disk.img", "interface": "ide", "readonly": True}]},
     "vm.devices[0].readonly: QEMU cannot attach a read-only ide disk (use interface: virtio "
     "or scsi, or snapshot: true)"),
    ({"devices": [{"kind": "block", "file": "disk.img", "interface": "sata"}]},
     "vm.devices[0].interface: a string 'sata' is not one of 'virtio', 'scsi', 'ide', 'nvme'"),
    ({"devices": [{"kind": "net", "mac": "zz"}]},
     "vm.devices[0].mac: 'zz' is not a MAC address like 52:54:00:12:34:56"),
    ({"devices": [{"kind": "net", "backend": "tap", "forwards": [{"host": 1, "guest": 2}]}]},
     "vm.devices[0].forwards: host forwards need backend: user"),
    ({"devices": [{"kind": "net", "forwards": [{"host": 0, "guest": 22}]}]},
     "vm.devices[0].forwards[0].host: 0 is out of range (allowed: 1 to 65535)"),
    ({"devices": [{"kind": "net", "backend": "macvtap"}]},
     "vm.devices[0].ifname: a macvtap NIC needs the macvtap interface's name"),
    ({"devices": [{"kind": "net", "vhost": True}]},
     "vm.devices[0].vhost: vhost-net needs backend: tap or macvtap"),
    ({"devices": [{"kind": "net", "backend": "tap", "vhost": True, "model": "e1000"}]},
     "vm.devices[0].vhost: vhost-net needs model: virtio-net-pci"),
    ({"devices": [{"kind": "vhost-user", "type": "fs", "socket": "/s"}]},
     "vm.devices[0].tag: a vhost-user fs device needs a mount tag"),
    ({"devices": [{"kind": "9p", "path": "share", "tag": ""}]},
     "vm.devices[0].tag: a 9p mount tag needs 1 to 31 characters"),
    ({"devices": [{"kind": "chardev", "backend": "pty", "path": "/x"}]},
     "vm.devices[0].path: a pty chardev gets its path from QEMU, give none"),
    ({"devices": [{"kind": "chardev", "backend": "socket"}]},
     "vm.devices[0].path: a socket chardev needs a path"),
    ({"devices": [{"kind": "chardev", "backend": "pty", "frontend": "virtserialport"}]},
     "vm.devices[0].name: a virtserialport needs a port name"),
    ({"devices": [{"kind": "nvdimm", "file": "pmem.img", "size": "64M"}]},
     "vm.devices[0]: an nvdimm needs mem_slots >= 1 and mem_max >= mem + every nvdimm size "
     "(320M)"),
    ({"devices": [{"kind": "vfio", "host": "01:00.0"}]},
     "vm.devices[0].host: '01:00.0' is not a PCI address like 0000:01:00.0"),
    ({"devices": [{"kind": "bridge", "type": "pcie"}]},
     "vm.devices[0].type: a pcie bridge needs machine: q35 (not pc)"),
    ({"devices": [{"kind": "serial", "id": "9bad"}]},
     "vm.devices[0].id: '9bad' must start with a letter and hold letters, digits, '.', '_' "
     "or '-' (at most 31)"),
    ({"devices": [{"kind": "serial", "id": "x"}, {"kind": "bridge", "id": "x"}]},
     "vm.devices[1].id: 'x' is already used by devices[0]"),
]


@pytest.mark.parametrize(("vm", "message"), REFUSED,
                         ids=[m.split(":")[0] or "ok" for _, m in REFUSED])
def test_refused_with_field(d: Path, vm: dict[str, Any], message: str) -> None:
    if not message:
        load(d, **vm)  # the boundary itself is allowed
        return
    with pytest.raises(ConfigError) as info:
        load(d, **vm)
    assert str(info.value) == f"pool.yaml: {message.format(d=d)}"


def test_hugepages_with_a_shared_backend_drop_mem_path(d: Path) -> None:
    # QEMU ignores -mem-path once RAM is a backend object: RAM would land on memfd.
    args = argv(d, hugepages=True, mem_prealloc=True,
                devices=[{"kind": "vhost-user", "socket": "/run/vu.sock"}])
    assert "-mem-path" not in args and "-mem-prealloc" not in args
