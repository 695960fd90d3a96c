"""The built-in demo pool: a few instances of the test guest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vmtui.backends.config.pool import Config, parse_config
from vmtui.guest import crashmod, debugsyms
from vmtui.guest.build import Guest, cache_root, default_guest

DEMO_COUNT = 3
# trinity, a real Linux system-call fuzzer, as the farm's workload: as nobody
# (-X), no log files (-l off), it stops only when the kernel dies (-T DIE),
# 10,000 calls a round, then the loop runs it again.
TRINITY = "cd /tmp && exec trinity -X -q -l off -T DIE -C 2 -N 10000"


def demo_dict(guest: Guest | None = None, count: int = DEMO_COUNT,
              workdir: Path | None = None, fuzz: bool = False) -> dict[str, Any]:
    """The demo config as plain data (what ``vmtui demo --print`` shows); with
    ``fuzz``, every instance runs trinity under the farm loop."""
    guest = guest or default_guest()
    data: dict[str, Any] = {
        "name": "fuzz" if fuzz else "demo",
        "type": "qemu",
        "count": count,
        "target": "linux/amd64",
        "workdir": str(workdir or cache_root() / "runs"),
        "ssh_user": "root",
        "ssh_key": str(guest.ssh_key),
        "ssh_host_key": str(guest.host_key),
        "boot_timeout": 120,
        "vm": {
            "kernel": str(guest.kernel),
            "initrd": str(guest.initrd),
            "append": guest.append,
            "machine": "pc",
            "accel": "tcg",
            "cpus": 1,
            "mem": 256,
            # Entropy from the host: without it the guest's SSH server waits about
            # a second after boot for the kernel's random pool (crng init).
            "rng": True,
        },
    }
    if fuzz:
        data["workload"] = {"run": TRINITY, "restart": "always", "max_restarts": 20,
                            "restart_window": 600, "backoff": 1}
    return data


def with_symbols(data: dict[str, Any], guest: Guest) -> dict[str, Any]:
    """``data`` naming the guest's debug symbols, when ``vmtui guest build --debug``
    fetched them: reports get file:line, Hold + gdb loads the vmlinux."""
    vmlinux, _ = debugsyms.paths(guest.dir)
    module = guest.dir / crashmod.DEBUG_KO
    if debugsyms.recorded(guest.dir):
        data["vmlinux"] = str(vmlinux)
        data["kernel_modules"] = [str(module)] if module.is_file() else []
    return data


def demo_config(guest: Guest | None = None, count: int = DEMO_COUNT,
                workdir: Path | None = None, fuzz: bool = False) -> Config:
    """The demo config, validated like any other (with the guest's debug
    symbols when they are there)."""
    guest = guest or default_guest()
    return parse_config(with_symbols(demo_dict(guest, count, workdir, fuzz), guest),
                        file="<demo>", base_dir=Path.cwd())
