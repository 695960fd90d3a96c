"""The stream's console push: a writer woken by the ring (the wake-ups of one
burst coalesce into one chunk), flow control kept while it is, and acks owed
to a replaced subscription never opening the new one's window.

The writer-level tests drive one :class:`Stream` on a real LocalControl over a
scripted pool with a recording socket (what a chunk holds and how many go is
exact there); the late ack is proved against a real daemon.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.serve_daemon import Daemon, scripted_yaml
from tests.test_serve_stream import URL, _next, _none_of, _type
from vmtui.backends.config.pool import parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.serve.listing import Listing
from vmtui.serve.stream import Hub, Stream


class RecordingSocket:
    """What the writer needs of a WebSocketResponse: it keeps what was sent."""

    def __init__(self) -> None:
        self.closed = False
        self.sent: list[dict[str, Any]] = []

    async def send_str(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self, **_: object) -> None:
        self.closed = True

    def consoles(self) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["type"] == "console"]


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[tuple[Stream, RecordingSocket, Any]]:
    """A stream subscribed to p-0's console (window 1), its writer running."""
    fleet = Fleet(parse_config({"name": "p", "type": "scripted", "count": 1,
                                "workdir": str(tmp_path)}, file="<test>", base_dir=tmp_path))
    control = LocalControl(fleet)
    ws = RecordingSocket()
    client = Stream(ws, Hub(control, Listing(control)))  # type: ignore[arg-type]
    task = asyncio.get_running_loop().create_task(client.write())
    client.receive(json.dumps({"op": "console", "name": "p-0", "cursor": 0}))
    await _until(lambda: len(ws.consoles()) == 1)  # the subscription's first chunk
    try:
        yield client, ws, control.fleets.console("p-0")
    finally:
        client.close()
        ws.closed = True
        client.wake.set()
        await asyncio.wait_for(task, 5)


async def _until(condition: Any, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)


async def test_stores_between_two_writer_runs_go_as_one_chunk(
        writer: tuple[Stream, RecordingSocket, Any]) -> None:
    client, ws, ring = writer
    client.receive(json.dumps({"op": "ack"}))
    await asyncio.sleep(0.1)  # the ack's wake-up is spent: nothing to send
    assert len(ws.consoles()) == 1
    client.wake.clear()
    for i in range(50):  # fifty stores before the writer runs again
        ring.extend("console", [f"line {i}"], 1.0)
    assert client.wake.is_set()  # the ring woke the writer ...
    await _until(lambda: len(ws.consoles()) == 2)
    await asyncio.sleep(0.1)
    chunks = ws.consoles()
    assert len(chunks) == 2  # ... once: one chunk for the whole burst
    assert [line[2] for line in chunks[1]["chunk"]["lines"]] == [f"line {i}" for i in range(50)]


async def test_a_full_window_is_not_woken_by_the_ring(
        writer: tuple[Stream, RecordingSocket, Any]) -> None:
    client, ws, ring = writer  # the first chunk is out, not acked: the window is full
    client.wake.clear()
    for i in range(20):
        ring.append("console", f"waiting {i}", 1.0)
    assert not client.wake.is_set()
    await asyncio.sleep(0.2)
    assert len(ws.consoles()) == 1  # nothing went past the window
    client.receive(json.dumps({"op": "ack"}))
    await _until(lambda: len(ws.consoles()) == 2)
    assert len(ws.consoles()[1]["chunk"]["lines"]) == 20  # what waited, in one chunk


async def test_a_busy_client_is_not_woken_by_the_ring(
        writer: tuple[Stream, RecordingSocket, Any]) -> None:
    client, _, ring = writer
    client.receive(json.dumps({"op": "busy", "busy": True}))
    client.receive(json.dumps({"op": "ack"}))
    await asyncio.sleep(0.05)
    client.wake.clear()
    ring.append("console", "while busy", 1.0)
    assert not client.wake.is_set()  # it keeps its slower pace


async def test_a_closed_stream_stops_listening(
        writer: tuple[Stream, RecordingSocket, Any]) -> None:
    client, _, ring = writer
    client.receive(json.dumps({"op": "ack"}))
    await asyncio.sleep(0.05)
    client.close()
    client.wake.clear()
    ring.append("console", "after", 1.0)
    assert not client.wake.is_set()
    assert client.ring is None


# -- against a real daemon ----------------------------------------------------------


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with Daemon([scripted_yaml(tmp_path_factory.mktemp("push"), count=2)]) as d:
        yield d


async def test_a_late_ack_of_a_replaced_subscription_does_not_open_the_window(
        daemon: Daemon) -> None:
    connector = aiohttp.UnixConnector(str(daemon.sock))
    async with aiohttp.ClientSession(connector=connector) as session, \
            session.ws_connect(URL) as ws:
        await ws.send_json({"op": "console", "name": "snap-0", "cursor": 0})
        assert (await _next(ws, "console"))["name"] == "snap-0"  # not acked
        await ws.send_json({"op": "console", "name": "snap-1", "cursor": 0})
        first = await _next(ws, "console")
        assert first["name"] == "snap-1"
        await ws.send_json({"op": "ack"})  # late: it is snap-0's chunk's
        _type(daemon, "snap-1", "after the late ack\n")
        await _none_of(ws, "console", 0.8)  # snap-1's first chunk is still unacked
        await ws.send_json({"op": "ack"})  # now snap-1's
        second = await _next(ws, "console")
        assert second["name"] == "snap-1"
        assert "after the late ack" in [line[2] for line in second["chunk"]["lines"]]
