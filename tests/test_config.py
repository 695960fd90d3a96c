"""Config validation: every bad config says file, field and problem, exit status 2."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from vmtui.backends.config.pool import load_config
from vmtui.backends.config.schema import ConfigError
from vmtui.cli import main


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "bzImage").write_bytes(b"kernel")
    (tmp_path / "key").write_text("private")
    (tmp_path / "host.pub").write_text(HOST_KEY)
    return tmp_path


# A real public key: vmtui check reads it (a garbage host key is refused).
HOST_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM0/y3kn9Z9cQeGt1t0Mb4mSFp7XIo7KZnVOT0H2"
            "qNYe vmtui-test\n")


def good() -> dict[str, Any]:
    return {
        "name": "fuzz", "count": 2, "target": "linux/amd64", "workdir": "work",
        "ssh_key": "key", "ssh_host_key": "host.pub",
        "vm": {"kernel": "bzImage", "mem": 512, "cpus": 2},
    }


def write(files: Path, data: Any) -> Path:
    path = files / "pool.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def test_good_config_loads_with_paths_relative_to_file(files: Path) -> None:
    cfg = load_config(write(files, good()))
    assert cfg.pool.name == "fuzz" and cfg.pool.count == 2
    assert cfg.pool.workdir == files / "work"
    assert cfg.vm.kernel == files / "bzImage"
    assert cfg.vm.mem == 512 << 20 and cfg.vm.accel == "tcg"
    assert (cfg.pool.os, cfg.pool.arch) == ("linux", "amd64")


def mutate(path: str, value: Any) -> dict[str, Any]:
    data = good()
    node = data
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return data


DELETE = object()

BAD = [
    (mutate("colour", "blue"), "colour: unknown key (known keys: boot_timeout, console, "
     "console_lines, count, diagnose_pace, kernel_modules, name, no_output_timeout, "
     "ssh_host_key, ssh_host_key_check, ssh_key, ssh_user, stuck_vcpu_period, stuck_vcpu_samples, "
     "target, type, vm, vmlinux, workdir, workload)"),
    (mutate("stuck_vcpu_samples", 1), "stuck_vcpu_samples: 1 would call any moment in the "
     "kernel stuck: 0 (off) or at least 2"),
    (mutate("stuck_vcpu_period", 0), "stuck_vcpu_period: 0 is out of range (allowed: 0.1 to 60)"),
    (mutate("vmlinux", "nowhere/vmlinux"), "vmlinux: file not found: {dir}/nowhere/vmlinux"),
    (mutate("kernel_modules", ["x.ko"]), "kernel_modules[0]: file not found: {dir}/x.ko"),
    (mutate("count", "two"), "count: expected an integer, got a string 'two'"),
    (mutate("count", 0), "count: 0 is out of range (allowed: 1 to 128)"),
    (mutate("count", True), "count: expected an integer, got a boolean True"),
    (mutate("vm.mem", 0), "vm.mem: 0 is out of range (allowed: 1M to 1T)"),
    (mutate("vm.mem", "2T"), "vm.mem: 2T is out of range (allowed: 1M to 1T)"),
    (mutate("vm.mem", "lots"), "vm.mem: expected a size such as 512M or 2G, got a string 'lots'"),
    (mutate("vm.kernel", "missing/bzImage"), "vm.kernel: file not found: {dir}/missing/bzImage"),
    (mutate("vm.kernel", DELETE), "vm.kernel: without a kernel the firmware boots the first "
     "disk: give a kernel or a block device"),
    (mutate("vm.accel", "hvf"), "vm.accel: a string 'hvf' is not one of 'tcg', 'kvm', 'auto'"),
    (mutate("vm.cpus", 1.5), "vm.cpus: expected an integer, got a number 1.5"),
    (mutate("vm.qemu_args", "-s"), "vm.qemu_args: expected a list, got a string '-s'"),
    (mutate("vm.qemu_args", ["-s", 3]), "vm.qemu_args[1]: expected a string, got an integer 3"),
    (mutate("vm.memory", 512), "vm.memory: unknown key (did you mean 'mem'?)"),
    (mutate("vm.memsize", 512), "vm.memsize: unknown key (did you mean 'mem'?)"),
    (mutate("ssh_keys", "key"), "ssh_keys: unknown key (did you mean 'ssh_key'?)"),
    (mutate("vm.vnc", 1),
     "vm.vnc: unknown key (known keys: accel, append, balloon, bios, boot_parallel, cores, "
     "cpu, cpus, daemonize, devices, firmware, fw_cfg, globals, hugepages, initrd, iommu, kernel, "
     "machine, maxcpus, mem, mem_max, mem_prealloc, mem_slots, mlock, network, no_reboot, "
     "no_user_config, nodefaults, nographic, ovmf_code, ovmf_vars, panic, qemu, qemu_args,"
     " qmp_sockets, rng, rtc_base, rtc_clock, rtc_driftfix, sockets, start_paused, "
     "threads, uuid, vga, vsock_cid)"),
    (mutate("vm", ["kernel"]), "vm: expected a mapping, got a list"),
    (mutate("type", "vmware"),
     "type: unknown VM type 'vmware' (known: isolated, libvirt, qemu, scripted)"),
    (mutate("target", "windows/amd64"), "target: 'windows/amd64' must be OS/ARCH with OS one "
     "of linux, freebsd, openbsd, netbsd"),
    (mutate("name", "bad name"), "name: 'bad name' must be letters, digits, '.', '_' or '-' "
     "(at most 63)"),
    (mutate("name", DELETE), "name: missing required key"),
    (mutate("ssh_key", "nokey"), "ssh_key: file not found: {dir}/nokey"),
    (mutate("ssh_host_key", DELETE), "ssh_host_key: required while ssh_host_key_check is true "
     "(set ssh_host_key_check: false to skip checking, unsafe)"),
    (mutate("boot_timeout", -5), "boot_timeout: -5 is out of range (allowed: 1 to 3600)"),
    (mutate("ssh_host_key_check", "no"), "ssh_host_key_check: expected true or false, "
     "got a string 'no'"),
    ("name: [unclosed",
     "invalid YAML at line 1, column 16: expected ',' or ']', but got '<stream end>'"),
    ("- a\n- b\n", "expected a mapping, got a list"),
    ("", "the file is empty"),
]


@pytest.mark.parametrize(("data", "message"), BAD,
                         ids=[m.split(":")[0].split(" ")[0] for _, m in BAD])
def test_bad_config_message(files: Path, data: Any, message: str) -> None:
    path = write(files, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {message.format(dir=files)}"


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match=r"^/nonexistent/pool.yaml: file not found$"):
        load_config("/nonexistent/pool.yaml")


def test_check_command_exit_status(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(files, good())
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: ok (qemu, 2 instances)\n"
    bad = write(files, mutate("vm.mem", 0))
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"vmtui: {bad}: vm.mem: 0 is out of range (allowed: 1M to 1T)\n"


def test_check_leaves_no_trace(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # check validates only: no workdir, no run folder, no runtime folder, no
    # process (the suite refuses to start QEMU outside tests marked guest).
    tmp = files / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # where a runtime folder would go
    path = write(files, good())
    before = sorted(p.name for p in files.iterdir())
    assert main(["check", str(path)]) == 0
    assert sorted(p.name for p in files.iterdir()) == before
    assert not (files / "work").exists()
    assert list(tmp.iterdir()) == []
