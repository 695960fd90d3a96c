"""Shared helpers for the tests."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vmtui.backends.config.pool import Config, parse_config


def scripted_config(tmp: Path, *, count: int = 2, lines: list[str] | None = None,
                    fail: list[int] | None = None, name: str = "snap",
                    base_dir: Path | None = None,
                    workload: dict[str, Any] | None = None, host: str = "") -> Config:
    """A config of the scripted VM type (deterministic, no real VM)."""
    data: dict[str, Any] = {
        "name": name, "type": "scripted", "count": count, "workdir": str(tmp),
        "vm": {"lines": lines or [], "fail": fail or [], "host": host},
    }
    if workload is not None:
        data["workload"] = workload
    return parse_config(data, file="<test>", base_dir=tmp if base_dir is None else base_dir)


async def eventually(cond: Callable[[], object], timeout: float, what: str = "") -> None:
    """Poll ``cond`` until it holds; fail after ``timeout`` seconds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what or "condition not met in time"
        await asyncio.sleep(0.02)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_dead(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is gone; False if it is still alive after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def qemu_pids() -> set[int]:
    """Live qemu-system processes of this user."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith("qemu-system") and pid_alive(int(entry.name)):
                if entry.stat().st_uid == os.getuid():
                    pids.add(int(entry.name))
    return pids


def qemu_pids_in(workdir: Path) -> set[int]:
    """Live QEMU processes running in a folder under ``workdir`` (an instance workdir)."""
    found = set()
    for pid in qemu_pids():
        try:
            if os.readlink(f"/proc/{pid}/cwd").startswith(str(workdir)):
                found.add(pid)
        except OSError:
            pass
    return found


def fleets_of(app: Any) -> Any:
    """The in-process Fleets behind a VmtuiApp built on a LocalControl (tests reach
    past the crossing to prepare or inspect the fleet; the front never does)."""
    from vmtui.backends.fleet.local import LocalControl

    control = app.bridge.control
    assert isinstance(control, LocalControl)
    return control.fleets
