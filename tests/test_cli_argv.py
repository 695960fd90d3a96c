"""`vmtui argv CONFIG --instance N`: the QEMU command line, one argument a line."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import yaml


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmtui", "argv", *args],
                          capture_output=True, text=True)


def test_argv_prints_each_instance_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "vmlinuz").write_bytes(b"k")
    for i in range(2):
        (tmp_path / f"d{i}.img").write_bytes(b"d")
    config = tmp_path / "pool.yaml"
    config.write_text(yaml.safe_dump({
        "name": "p", "count": 2, "workdir": "w", "vm": {
            "kernel": "vmlinuz", "append": "console=ttyS0 who={name}",
            "devices": [{"kind": "block", "file": "d{index}.img"}, {"kind": "net"}]}}))
    done = run(str(config), "--instance", "1")
    assert done.returncode == 0, done.stderr
    args = [shlex.split(line)[0] for line in done.stdout.splitlines()]
    assert args[args.index("-append") + 1] == "console=ttyS0 who=p-1"
    assert any(f"file={tmp_path}/d1.img," in a for a in args)
    assert "-S" not in args and args[args.index("-name") + 1] == "p-1,debug-threads=on"
    assert any("hostfwd=tcp:127.0.0.1:$SSH_PORT-:22" in a for a in args)
    wrong = run(str(config), "--instance", "2")
    assert wrong.returncode == 2 and "--instance: 2 is not one of 0 to 1" in wrong.stderr


def test_argv_prints_the_users_own_values_exactly(tmp_path: Path) -> None:
    # Only the values chosen at start become variables, and only where they
    # stand: a kernel's panic=-1 and a user's forward on port 65535 stay (#23).
    (tmp_path / "vmlinuz").write_bytes(b"k")
    config = tmp_path / "pool.yaml"
    config.write_text(yaml.safe_dump({"name": "p", "workdir": "w", "vm": {
        "kernel": "vmlinuz", "append": "console=ttyS0 panic=-1 foo=-12 bar:-1",
        "devices": [
            {"kind": "net", "forwards": [{"host": 65535, "guest": 22}]},
            {"kind": "net", "backend": "tap", "ifname": "tap7", "vhost": True},
            {"kind": "net", "backend": "tap", "ifname": "tap8", "queues": 2, "vhost": True}],
        "qemu_args": ["-fw_cfg", "name=opt/x,string=a=-1:-1:65535-"]}}))
    done = run(str(config))
    assert done.returncode == 0, done.stderr
    args = [shlex.split(line)[0] for line in done.stdout.splitlines()]
    assert args[args.index("-append") + 1] == "console=ttyS0 panic=-1 foo=-12 bar:-1"
    assert args[-2:] == ["-fw_cfg", "name=opt/x,string=a=-1:-1:65535-"]
    netdevs = [args[i + 1] for i, a in enumerate(args) if a == "-netdev"]
    assert netdevs == [
        "user,id=vmtui-ssh,restrict=on,hostfwd=tcp:127.0.0.1:$SSH_PORT-:22",
        "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:65535-:22",
        "tap,id=net1,fd=$TAP_FD,vhost=on,vhostfd=$VHOST_FD",
        "tap,id=net2,fds=$TAP_FD0:$TAP_FD1,vhost=on,vhostfds=$VHOST_FD0:$VHOST_FD1"]
    qmp = args[args.index("-qmp") + 1]
    assert qmp == "unix:$RUNTIME/p-0.qmp,server=on,wait=off"


def test_argv_gives_each_instance_its_vsock_cid(tmp_path: Path) -> None:
    (tmp_path / "vmlinuz").write_bytes(b"k")
    config = tmp_path / "pool.yaml"
    config.write_text(yaml.safe_dump({"name": "p", "count": 3, "workdir": "w", "vm": {
        "kernel": "vmlinuz", "vsock_cid": 10}}))
    done = run(str(config), "--instance", "2")
    assert done.returncode == 0, done.stderr
    assert "vhost-vsock-pci,id=vmtui-vsock,guest-cid=12" in done.stdout.splitlines()
