"""qemu_args may not open a TCP listener behind vmtui's back (only the owner reaches a VM)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vmtui.backends.qemu.listeners import tcp_listeners

REFUSED = [
    ["-s"],
    ["--gdb", "tcp::1234"],
    ["-gdb", "tcp:127.0.0.1:1234"],
    ["-monitor", "telnet:127.0.0.1:4444,server,nowait"],
    ["-qmp", "tcp:127.0.0.1:4444,server=on,wait=off"],
    ["-serial", "tcp::4444,server=on"],
    ["-chardev", "socket,id=m,host=127.0.0.1,port=4444,server=on,wait=off"],
    ["-chardev", "socket,id=m,port=4444,server"],
    ["-vnc", ":0"],
    ["-vnc", "127.0.0.1:1"],
    ["-spice", "port=5900,disable-ticketing=on"],
    ["-incoming", "tcp:0:4444"],
]
ALLOWED = [
    ["-gdb", "unix:/tmp/private/g.sock,server=on,wait=off"],
    ["-monitor", "unix:/tmp/private/m.sock,server=on,wait=off"],
    ["-serial", "tcp:buildhost:4444"],  # a client: it listens on nothing
    ["-chardev", "socket,id=c,host=127.0.0.1,port=4444"],
    ["-chardev", "socket,id=c,path=/tmp/private/c.sock,server=on"],
    ["-chardev", "socket,id=c,host=h,port=1,server=off"],
    ["-vnc", "none"],
    ["-vnc", "unix:/tmp/private/vnc.sock"],
    ["-cpu", "max", "-smp", "2"],
]


@pytest.mark.parametrize("args", REFUSED, ids=lambda a: " ".join(a))
def test_a_tcp_listener_is_refused_by_name(args: list[str]) -> None:
    problems = tcp_listeners(["-cpu", "max", *args])
    assert len(problems) == 1
    assert problems[0].startswith(f"qemu_args[2]: {args[0]!r}")
    assert "any local user could reach it" in problems[0]


@pytest.mark.parametrize("args", ALLOWED, ids=lambda a: " ".join(a))
def test_what_listens_on_nothing_or_privately_passes(args: list[str]) -> None:
    assert tcp_listeners(args) == []


def test_vmtui_check_names_the_argument(tmp_path: Path) -> None:
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(b"")
    config = tmp_path / "pool.yaml"
    config.write_text(f"name: p\ncount: 1\nvm:\n  kernel: {kernel}\n"
                      "  qemu_args: [-cpu, max, -s]\n")
    out = subprocess.run([sys.executable, "-m", "vmtui", "check", str(config)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "qemu_args[2]: '-s' opens a gdb stub on TCP port 1234" in out.stderr
