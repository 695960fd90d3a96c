"""The built-in demo pool: a few instances of the test guest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vmtui.backends.config import Config, parse_config
from vmtui.guest.build import Guest, cache_root, default_guest

DEMO_COUNT = 3


def demo_dict(guest: Guest | None = None, count: int = DEMO_COUNT,
              workdir: Path | None = None) -> dict[str, Any]:
    """The demo config as plain data (what ``vmtui demo --print`` shows)."""
    guest = guest or default_guest()
    return {
        "name": "demo",
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
        },
    }


def demo_config(guest: Guest | None = None, count: int = DEMO_COUNT,
                workdir: Path | None = None) -> Config:
    """The demo config, validated like any other."""
    return parse_config(demo_dict(guest, count, workdir), file="<demo>", base_dir=Path.cwd())
