"""What goes wrong between the client and a daemon: the reconnect task never
ends while the client is open (a 503 at the stream limit, a 5xx while reading
everything again, a message it cannot read), never shows stale data as live,
and stops saying why when the daemon speaks another API. A tiny aiohttp daemon
answers here, scripted per test."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.remote_helpers import daemon, free_port, scripted_yaml, until
from vmtui.backends.vm.errors import VMError
from vmtui.remote.address import parse_address
from vmtui.remote.control import RemoteControl


class Stub:
    """A daemon with no instances; each list of ``plans`` is used up call by call."""

    def __init__(self) -> None:
        self.streams: list[str] = []  # per stream connection: "503", "bad", "ok"
        self.instances: list[int] = []  # statuses of GET /instances (then 200)
        self.api = 1
        self.headers: list[str | None] = []
        self.sockets: list[web.WebSocketResponse] = []

    def app(self) -> web.Application:
        app = web.Application()
        api = "/api/v1"
        app.router.add_get(api + "/version", self.version)
        for path in ("/pools", "/crashes", "/incidents"):
            app.router.add_get(api + path, self.empty)
        app.router.add_get(api + "/instances", self.list_instances)
        app.router.add_get(api + "/crashes/report", self.not_found)
        app.router.add_get(api + "/crashes/log", self.not_found)
        app.router.add_get(api + "/incidents/file", self.not_found)
        app.router.add_get(api + "/stream", self.stream)
        return app

    async def version(self, request: web.Request) -> web.Response:
        self.headers.append(request.headers.get("Authorization"))
        return web.json_response({"api": self.api, "vmtui": "stub", "read_only": True})

    async def empty(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def list_instances(self, request: web.Request) -> web.Response:
        status = self.instances.pop(0) if self.instances else 200
        if status != 200:
            return web.json_response({"error": {"type": "Unavailable", "message": "busy"}},
                                     status=status)
        return web.json_response([])

    async def not_found(self, request: web.Request) -> web.Response:
        return web.json_response({"error": {"type": "NotFound",
                                            "message": "no crash titled 'x'"}}, status=404)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        plan = self.streams.pop(0) if self.streams else "ok"
        if plan == "503":
            return web.json_response({"error": {"type": "Unavailable",
                                                "message": "too many streams"}}, status=503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        if plan == "bad":
            await ws.send_str(json.dumps({"type": "pool"}))  # no snapshots: KeyError
        else:
            await ws.send_str(json.dumps({"type": "pool", "snapshots": []}))
        async for _ in ws:
            pass
        return ws

    async def drop(self) -> None:
        """Close every stream (the client reconnects)."""
        for ws in self.sockets:
            await ws.close()
        self.sockets.clear()


@asynccontextmanager
async def serving(stub: Stub, where: Path | None = None) -> AsyncIterator[str]:
    """``stub`` on a Unix socket in ``where`` (else on TCP); its address."""
    runner = web.AppRunner(stub.app())
    await runner.setup()
    if where is not None:
        site: web.BaseSite = web.UnixSite(runner, str(where / "stub.sock"))
        address = f"unix:{where / 'stub.sock'}"
    else:
        port = free_port()
        site = web.TCPSite(runner, "127.0.0.1", port)
        address = f"tcp:127.0.0.1:{port}"
    await site.start()
    try:
        yield address
    finally:
        await runner.cleanup()


async def opened(address: str, **kwargs: Any) -> RemoteControl:
    control = RemoteControl(parse_address(address), backoff=(0.05, 0.2), **kwargs)
    await control.connect()
    return control


async def test_a_503_at_the_stream_limit_is_tried_again(tmp_path: Path) -> None:
    stub = Stub()
    stub.streams = ["503", "503"]
    async with serving(stub, tmp_path) as address:
        control = await opened(address)
        seen: set[str] = set()
        await until(lambda: seen.add(control.connection()) or control.connection() == "", 10,
                    f"never live: {control.connection()!r}")
        assert any("HTTP 503" in s and "reconnecting" in s for s in seen), seen
        await control.close()


async def test_a_5xx_while_reading_again_is_tried_again(tmp_path: Path) -> None:
    stub = Stub()
    async with serving(stub, tmp_path) as address:
        control = await opened(address)
        await control.wait_live(10)
        stub.instances = [500, 500]  # the next two reads of everything fail
        await stub.drop()
        await until(lambda: "reconnecting" in control.connection(), 10)
        await until(lambda: control.connection() == "", 10,
                    f"never live again: {control.connection()!r}")
        assert control.reconnects >= 1 and not stub.instances
        await control.close()


async def test_a_message_it_cannot_read_drops_the_connection(tmp_path: Path) -> None:
    stub = Stub()
    stub.streams = ["bad"]
    async with serving(stub, tmp_path) as address:
        control = await opened(address)
        seen: set[str] = set()
        await until(lambda: seen.add(control.connection()) or control.reconnects >= 1, 10,
                    f"never reconnected: {control.connection()!r}")
        assert any("cannot read" in s and "reconnecting" in s for s in seen), seen
        await until(lambda: control.connection() == "", 10)
        await control.close()


async def test_another_api_version_stops_and_says_so(tmp_path: Path) -> None:
    stub = Stub()
    async with serving(stub, tmp_path) as address:
        control = await opened(address)
        await control.wait_live(10)
        stub.api = 2  # the daemon was upgraded
        await stub.drop()
        await until(lambda: "API v2" in control.connection(), 10, control.connection())
        assert "this client v1" in control.connection()
        assert not control.connection().endswith("; reconnecting")
        assert control._task is not None
        await until(control._task.done, 5)
        assert control.connection() != ""
        await control.close()


async def test_missing_files_are_vm_errors_as_locally(tmp_path: Path) -> None:
    stub = Stub()
    async with serving(stub, tmp_path) as address:
        control = await opened(address)
        for call in (control.crash_report("x"), control.crash_log("x"),
                     control.incident_file(tmp_path, "x")):
            with pytest.raises(VMError, match="no crash titled") as caught:
                await call
            assert not isinstance(caught.value, KeyError)
        await control.close()


async def test_the_token_goes_over_tcp_only(tmp_path: Path) -> None:
    stub = Stub()
    async with serving(stub, tmp_path) as address:
        control = await opened(address, token="secret")
        await control.close()
    async with serving(stub) as address:
        control = await opened(address, token="secret")
        await control.close()
    assert stub.headers == [None, "Bearer secret"]


async def test_a_read_only_token_is_said_once(tmp_path: Path) -> None:
    from vmtui.remote.attach import READ_ONLY, attached_app

    config = scripted_yaml(tmp_path / "ro.yaml", "ro", 1, tmp_path / "w")
    with daemon(tmp_path, [config], tcp=True) as d:
        for kind, said in (("token-ro", 1), ("token", 0)):
            control = await opened(d.tcp, token=d.token(kind).read_text().strip())
            assert control.read_only is bool(said)
            app = attached_app(control)
            try:
                async with app.run_test(size=(100, 30)) as pilot:
                    await pilot.pause(0.3)
                    shown = [str(n.message) for n in app._notifications]
                    assert shown.count(READ_ONLY) == said, shown
                    await pilot.press("q")
            finally:
                await control.close()
