"""The WebSocket stream of a real daemon: acknowledged console chunks, pool
snapshots, bad messages, a client that never acks, a flood of connects."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.serve_daemon import Daemon, scripted_yaml
from vmtui.serve import stream
from vmtui.serve.state import MAX_STREAMS

URL = "http://vmtui/api/v1/stream"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with Daemon([scripted_yaml(tmp_path_factory.mktemp("stream"), count=2)]) as d:
        yield d


@pytest.fixture
async def session(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.UnixConnector(str(daemon.sock), limit=0)  # 256 streams at once
    async with aiohttp.ClientSession(connector=connector) as s:
        yield s


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str,
                timeout: float = 10) -> dict[str, Any]:
    """The next message of type ``kind`` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive_json(timeout=max(0.01, deadline - time.monotonic()))
        if msg["type"] == kind:
            return msg  # type: ignore[no-any-return]


async def _none_of(ws: aiohttp.ClientWebSocketResponse, kind: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ws.receive_json(timeout=left)
        except TimeoutError:
            return
        assert msg["type"] != kind, msg


def _type(daemon: Daemon, name: str, text: str) -> None:
    assert daemon.post(f"/api/v1/instances/{name}/console/input", {"data": text}) == (200, {})


async def test_console_chunks_wait_for_the_ack_and_coalesce(
        daemon: Daemon, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(URL) as ws:
        hello = await _next(ws, "changes")
        assert hello["changes"] == 0
        # The daemon run it speaks for (a restarted daemon is another run).
        assert hello["run"] == daemon.get("/api/v1/version")["run"] != ""
        await ws.send_json({"op": "console", "name": "snap-0", "cursor": 0})
        first = await _next(ws, "console")
        assert first["name"] == "snap-0"
        assert [line[2] for line in first["chunk"]["lines"]] == ["hello from snap-0"]
        _type(daemon, "snap-0", "one\n")
        _type(daemon, "snap-0", "two\n")
        await _none_of(ws, "console", 0.6)  # not acked: nothing more comes
        await ws.send_json({"op": "ack"})
        second = await _next(ws, "console")
        texts = [line[2] for line in second["chunk"]["lines"]]
        assert "one" in texts and "two" in texts  # both in one chunk
        assert second["chunk"]["next_cursor"] > first["chunk"]["next_cursor"]
        await ws.send_json({"op": "busy", "busy": True})
        await ws.send_json({"op": "ack"})
        _type(daemon, "snap-0", "three\n")
        third = await _next(ws, "console")
        assert "three" in [line[2] for line in third["chunk"]["lines"]]


async def test_pool_snapshots_come_when_changed(daemon: Daemon,
                                                session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(URL) as ws:
        await ws.send_json({"op": "pool"})
        snap = await _next(ws, "pool")
        assert snap["run"] == daemon.get("/api/v1/version")["run"]
        assert [s["name"] for s in snap["snapshots"]] == ["snap-0", "snap-1"]
        assert daemon.post("/api/v1/instances/snap-1/actions/pause")[0] == 200
        t0 = time.monotonic()
        count = 0
        while True:
            msg = await _next(ws, "pool")
            count += 1
            if msg["snapshots"][1]["state"] == "paused":
                break
        assert time.monotonic() - t0 < 3
        assert daemon.post("/api/v1/instances/snap-1/actions/resume")[0] == 200
        # At most ~2 a second, while uptimes move.
        t0, n = time.monotonic(), 0
        while time.monotonic() - t0 < 2:
            try:
                await _next(ws, "pool", timeout=2 - (time.monotonic() - t0))
                n += 1
            except TimeoutError:
                break
        assert 1 <= n <= 5


async def test_a_window_lets_that_many_chunks_go_unacked_in_order(
        daemon: Daemon, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(URL) as ws:
        await ws.send_json({"op": "window", "chunks": 3})
        await ws.send_json({"op": "console", "name": "snap-1", "cursor": None,
                            "form": "columns"})
        first = (await _next(ws, "console"))["columns"]
        cursor, unacked, texts = first["next_cursor"], 1, []
        for i in range(6):  # six bursts, far apart: each would be a chunk of its own
            _type(daemon, "snap-1", f"burst {i}\n")
            await asyncio.sleep(0.3)
        while True:  # unacked: at most three chunks come (the first one counts)
            try:
                msg = await ws.receive_json(timeout=1.0)
            except TimeoutError:
                break
            if msg["type"] == "console":
                cols = msg["columns"]
                assert cols["seqs"] == list(range(cursor, cols["next_cursor"]))
                assert len(cols["sources"]) == len(cols["texts"]) == len(cols["at"])
                cursor, unacked = cols["next_cursor"], unacked + 1
                texts += cols["texts"]
        assert unacked == 3, unacked
        for _ in range(3):
            await ws.send_json({"op": "ack"})
        while "burst 5" not in texts:  # the rest come, one chunk, in order
            cols = (await _next(ws, "console"))["columns"]
            assert cols["seqs"][:1] == [cursor]
            cursor = cols["next_cursor"]
            texts += cols["texts"]
        bursts = [t for t in texts if t.startswith("burst")]
        assert bursts == [f"burst {i}" for i in range(6)]


async def test_a_big_backlog_goes_in_pieces_oldest_first(
        daemon: Daemon, session: aiohttp.ClientSession) -> None:
    start = daemon.get("/api/v1/instances/snap-0/console")["next_cursor"]
    _type(daemon, "snap-0", "".join(f"piece {i}\n" for i in range(4500)))
    await asyncio.sleep(1.0)  # echoed into the ring before the subscription
    async with session.ws_connect(URL) as ws:
        await ws.send_json({"op": "console", "name": "snap-0", "cursor": start})
        got: list[str] = []
        sizes = []
        while len([t for t in got if t.startswith("piece")]) < 4500:
            chunk = (await _next(ws, "console"))["chunk"]
            sizes.append(len(chunk["lines"]))
            got += [line[2] for line in chunk["lines"]]
            await ws.send_json({"op": "ack"})
        assert max(sizes) <= stream.CHUNK_LINES and len(sizes) >= 3, sizes
        assert [t for t in got if t.startswith("piece")] == [f"piece {i}" for i in range(4500)]


@pytest.mark.parametrize(("message", "says"), [
    ("{nope", "not JSON"), ("[1]", "JSON object"), ('{"op": "shout"}', "unknown op 'shout'"),
    ('{"op": "console", "name": "ghost"}', "no instance named 'ghost'"),
    ('{"op": "console", "name": 5}', "'name' must be a string"),
    ('{"op": "console", "name": "snap-0", "cursor": -3}', "'cursor'"),
    ('{"op": "console", "name": "snap-0", "form": "csv"}', "'rows' or 'columns'"),
    ('{"op": "window", "chunks": 0}', "from 1 to 4"),
    ('{"op": "window", "chunks": 99}', "from 1 to 4"),
    ('{"op": "window", "chunks": true}', "from 1 to 4"),
    ('{"op": "busy", "busy": "yes"}', "'busy' must be a boolean"),
    ('{"op": "ack", "extra": 1}', "unknown field 'extra'"),
])
async def test_a_bad_message_earns_an_error_and_the_socket_stays(
        daemon: Daemon, session: aiohttp.ClientSession, message: str, says: str) -> None:
    async with session.ws_connect(URL) as ws:
        await ws.send_str(message)
        err = await _next(ws, "error")
        assert says in err["error"]["message"]
        await ws.send_json({"op": "pool"})
        assert (await _next(ws, "pool"))["snapshots"]


async def test_a_client_that_never_acks_costs_one_chunk_or_its_window(
        daemon: Daemon, session: aiohttp.ClientSession) -> None:
    rss0 = daemon.rss()
    async with session.ws_connect(URL) as lazy, session.ws_connect(URL) as keen, \
            session.ws_connect(URL) as greedy:
        await greedy.send_json({"op": "window", "chunks": stream.MAX_WINDOW})
        for ws in (lazy, keen, greedy):
            await ws.send_json({"op": "console", "name": "snap-0", "cursor": None})
            await _next(ws, "console")
        await keen.send_json({"op": "ack"})
        got = 0
        line = "x" * 63 + "\n"
        for _ in range(30):  # ~7.5 MB of console through the echo
            _type(daemon, "snap-0", line * 4000)
            while True:  # the keen client takes what comes, and acks
                try:
                    msg = await keen.receive_json(timeout=0.05)
                except TimeoutError:
                    break
                if msg["type"] == "console":
                    got += len(msg["chunk"]["lines"])
                    await keen.send_json({"op": "ack"})
        assert got > 1000
        lazy_msgs = []
        while True:
            try:
                lazy_msgs.append(await lazy.receive_json(timeout=0.5))
            except TimeoutError:
                break
        assert [m["type"] for m in lazy_msgs if m["type"] == "console"] == []
        greedy_chunks = 1  # its first, read above
        while True:  # a window of W, never acked: W chunks and no more
            try:
                msg = await greedy.receive_json(timeout=0.5)
            except TimeoutError:
                break
            greedy_chunks += msg["type"] == "console"
        assert greedy_chunks == stream.MAX_WINDOW
        assert daemon.rss() - rss0 < 64 * 1024 * 1024, (rss0, daemon.rss())
    assert daemon.get("/api/v1/version")["api"] == 1


async def test_a_flood_of_connects_leaves_nothing(daemon: Daemon,
                                                  session: aiohttp.ClientSession) -> None:
    fds0 = daemon.fds()
    t0 = time.monotonic()
    async with asyncio.timeout(120):
        await _flood(session)
    assert time.monotonic() - t0 < 120
    assert json.loads(json.dumps(daemon.get("/api/v1/version")))["api"] == 1
    deadline = time.monotonic() + 20
    while daemon.fds() > fds0 + 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert daemon.fds() <= fds0 + 2, (fds0, daemon.fds())


async def _flood(session: aiohttp.ClientSession) -> None:
    """MAX_STREAMS held (one more refused), then 500 connects in bursts of 50."""
    held = [await session.ws_connect(URL) for _ in range(MAX_STREAMS)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await session.ws_connect(URL)
    assert refused.value.status == 503
    for ws in held:
        await ws.close()

    async def one(i: int) -> None:
        ws = await session.ws_connect(URL)
        await ws.send_json({"op": "pool"} if i % 2 else {"op": "console", "name": "snap-1"})
        if i % 3:
            await ws.close()
        else:  # gone without a goodbye
            ws._response.connection.transport.abort()  # type: ignore[union-attr]

    for start in range(0, 500, 50):
        await asyncio.gather(*(one(i) for i in range(start, start + 50)))


class _BusyControl:
    """What a Hub and a Stream's ops ask of a Control; set_busy recorded."""

    def __init__(self) -> None:
        self.told: list[bool] = []

    def changes(self) -> int:
        return 0

    def console_start(self, name: str) -> int:
        return 0

    def set_busy(self, busy: bool) -> None:
        self.told.append(busy)


async def test_a_read_only_clients_busy_slows_only_its_own_socket() -> None:
    control = _BusyControl()
    hub = stream.Hub(control, None)  # type: ignore[arg-type]
    ro = stream.Stream(None, hub, read_only=True)  # type: ignore[arg-type]
    full = stream.Stream(None, hub)  # type: ignore[arg-type]
    hub.sockets.add(ro)
    for client in (ro, full):
        client.receive('{"op": "console", "name": "snap-0"}')
        client.receive('{"op": "busy", "busy": true}')
        if client is ro:
            assert ro.busy and control.told == []  # its socket slows; the consoles do not
            hub.sockets.add(full)
    assert control.told == []  # a read-only watcher is never counted as busy
    hub.sockets.discard(ro)
    hub.pace()
    assert control.told == [True]  # every full watcher busy: the consoles back off
