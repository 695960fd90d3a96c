"""Another client on vmtui's QMP socket: what QEMU does with it, and that vmtui's
own connection neither breaks nor hides the cause when it must reconnect."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.helpers import eventually
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.qemu import QemuInstance
from vmtui.backends.qemu.domain import DomainTimeout

pytestmark = pytest.mark.guest

SHARED = "shared-0"


async def test_a_second_qmp_client_waits_outside_and_vmtui_names_it(shared_fleet: Fleet) -> None:
    inst = shared_fleet.instance(SHARED)
    assert isinstance(inst, QemuInstance)
    domain = inst.domain
    reader, writer = await asyncio.open_unix_connection(str(domain.socket))
    try:
        # QEMU serves one client per QMP socket: the second is never greeted, and
        # what it sends waits unread while vmtui holds the socket.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.readline(), 1.5)
        writer.write(b'garbage }{\n{"execute": "query-status"}\n')
        await writer.drain()
        assert (await domain.status()).running
        assert (await shared_fleet.guest(SHARED).run("echo fine", timeout=20)).status == 0

        # vmtui's connection breaks: QEMU greets the waiting client, and vmtui's
        # reconnect says what may hold the socket instead of blaming QEMU alone.
        await domain._drop()
        greeting = json.loads(await asyncio.wait_for(reader.readline(), 5))
        assert "QMP" in greeting
        with pytest.raises(DomainTimeout, match="QEMU serves one client per QMP socket, so "
                                                "another client holding it looks like this"):
            await domain.execute("query-status", timeout=2)
    finally:
        writer.close()
        await writer.wait_closed()
    # Once it leaves, vmtui reconnects; its state tracking recovers.
    assert (await domain.status()).running
    rec = shared_fleet.record(SHARED)
    await eventually(lambda: rec.fault == "", 20, "state tracking restored")
    assert rec.state.value == "running"
