"""Fixtures: the real test guest, and a pool of real guests shared by read-only tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from vmtui.backends.fleet import Fleet
from vmtui.demo import demo_config
from vmtui.guest.build import Guest, build


@pytest.fixture(scope="session")
def guest() -> Guest:
    """The real test guest (built into the cache once; reused when unchanged)."""
    return build()


@pytest_asyncio.fixture(scope="session")
async def shared_fleet(guest: Guest, tmp_path_factory: pytest.TempPathFactory
                       ) -> AsyncIterator[Fleet]:
    """Two real guests booted once for the tests that only look at them."""
    fleet = Fleet(demo_config(guest, count=2, workdir=tmp_path_factory.mktemp("shared")))
    await fleet.start()
    yield fleet
    await fleet.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "work"
