"""The SSH readiness probe: a probe that fails waits ``poll`` for the next one,
unless the guest prints something (the nudge), which brings it forward."""

from __future__ import annotations

import asyncio
import socket
import time

from vmtui.backends.ssh.target import SSHTarget, banner_seen
from vmtui.backends.vm.merger import OutputMerger


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def ssh_like_server(port: int) -> asyncio.Server:
    async def greet(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-test\r\n")
        await writer.drain()
        writer.close()

    return await asyncio.start_server(greet, "127.0.0.1", port)


async def test_a_line_from_the_guest_brings_the_next_probe_forward() -> None:
    port = closed_port()
    target = SSHTarget("127.0.0.1", port, "root", None, None, False)
    output = OutputMerger()
    began = time.monotonic()
    probe = asyncio.create_task(
        banner_seen(target, began + 5, poll=10.0, nudge=output.activity))
    await asyncio.sleep(0.3)  # a probe was refused: the next waits up to 10 s
    server = await ssh_like_server(port)
    try:
        assert not probe.done()
        output.feed("console", b"vmtui-guest: up, ssh on port 22\n")
        sock = await asyncio.wait_for(probe, 2)
        assert sock is not None
        sock.close()
        assert time.monotonic() - began < 1.5
    finally:
        server.close()


async def test_without_a_nudge_the_probe_waits_its_poll() -> None:
    port = closed_port()
    target = SSHTarget("127.0.0.1", port, "root", None, None, False)
    began = time.monotonic()
    probe = asyncio.create_task(banner_seen(target, began + 1.0, poll=10.0))
    await asyncio.sleep(0.3)
    server = await ssh_like_server(port)
    try:
        assert await probe is None  # the deadline came before the next probe
    finally:
        server.close()
