"""Fixtures: the real test guest, and a real guest shared by read-only tests."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.libvirtd import libvirtd  # noqa: F401 (one daemon for the whole run)
from vmtui.backends.config.pool import Config, parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.qemu import launcher
from vmtui.demo import demo_dict
from vmtui.guest.build import Guest, build


@pytest.fixture(autouse=True)
def _qemu_only_in_guest_tests(request: pytest.FixtureRequest,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that starts QEMU must be marked ``guest``: ``pytest -m "not guest"``
    is the quick loop with no QEMU at all, and this keeps it so."""
    if request.node.get_closest_marker("guest") is not None:
        return

    async def refuse(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{request.node.nodeid} starts QEMU ({argv[0]}): "
                             "mark it pytest.mark.guest")

    monkeypatch.setattr(launcher, "spawn", refuse)


@pytest.fixture(scope="session")
def guest() -> Guest:
    """The real test guest (built into the cache once; reused when unchanged)."""
    return build()


def guest_config(guest: Guest, workdir: Path, count: int = 1, name: str = "demo",
                 **vm: Any) -> Config:
    """The demo config with ``vm`` settings changed."""
    data = demo_dict(guest, count=count, workdir=workdir)
    data["name"] = name
    data["vm"].update(vm)
    return parse_config(data, file="<test>", base_dir=workdir)


def make_disk(path: Path, fmt: str = "qcow2", size: str = "32M") -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(path), size], check=True)
    return path


@pytest_asyncio.fixture(scope="session")
async def shared_fleet(guest: Guest, tmp_path_factory: pytest.TempPathFactory
                       ) -> AsyncIterator[Fleet]:
    """One real guest, 2 vCPUs and a read-only disk, for tests that only look at it
    or run harmless commands in it. Tests that change a guest boot their own."""
    tmp = tmp_path_factory.mktemp("shared")
    disk = make_disk(tmp / "data.raw", "raw", "16M")
    config = guest_config(guest, tmp, name="shared", cpus=2, devices=[
        {"kind": "block", "file": str(disk), "format": "raw", "readonly": True,
         "id": "data"}])
    fleet = Fleet(config)
    await fleet.start()
    snap = fleet.snapshot()[0]
    assert snap.state.value == "running", snap.error
    yield fleet
    await fleet.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "work"
