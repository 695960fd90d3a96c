"""Domain recovery after protocol faults, against a scripted QMP peer on a unix socket
(real QEMU does not send malformed JSON on demand)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from vmtui.backends.qemu.domain import Domain, DomainError

GREETING = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0},
                                "package": "fake"}, "capabilities": []}}


async def messages(reader: asyncio.StreamReader) -> AsyncIterator[dict[str, Any]]:
    """JSON objects as the client sends them (not newline-terminated)."""
    decoder = json.JSONDecoder()
    buf = ""
    while data := await reader.read(4096):
        buf += data.decode()
        while buf.strip():
            try:
                msg, end = decoder.raw_decode(buf.lstrip())
            except json.JSONDecodeError:
                break
            buf = buf.lstrip()[end:]
            yield msg


class FakeQMP:
    """Greets, accepts capabilities, answers query-status; misbehaves when told."""

    def __init__(self) -> None:
        self.connections = 0
        self.fault: bytes | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(json.dumps(GREETING).encode() + b"\r\n")
        async for msg in messages(reader):
            if self.fault is not None and msg["execute"] == "query-status":
                fault, self.fault = self.fault, None
                if fault == b"EOF":
                    writer.close()
                    return
                writer.write(fault)
                await writer.drain()
                continue
            ret = {"status": "running", "running": True} if msg["execute"] == "query-status" \
                else {}
            writer.write(json.dumps({"return": ret, "id": msg.get("id")}).encode() + b"\r\n")
            await writer.drain()


@pytest.mark.parametrize("fault", [b"{this is not json\r\n", b"EOF"])
async def test_reconnects_after_protocol_fault(tmp_path: Path, fault: bytes) -> None:
    peer = FakeQMP()
    sock = tmp_path / "qmp.sock"
    server = await asyncio.start_unix_server(peer.serve, path=str(sock))
    domain = Domain("fake-0", sock, timeout=2)
    try:
        await domain.connect()
        assert (await domain.status()).running
        peer.fault = fault
        with pytest.raises(DomainError, match=r"^fake-0: QMP query-status"):
            await domain.status()
        # The next call finds the client stuck, disconnects and reconnects.
        assert (await domain.status()).running
        assert peer.connections == 2
    finally:
        await domain.close()
        server.close()


async def test_connect_times_out_when_nobody_greets(tmp_path: Path) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    sock = tmp_path / "qmp.sock"
    server = await asyncio.start_unix_server(silent, path=str(sock))
    domain = Domain("mute-0", sock, timeout=0.5)
    try:
        with pytest.raises(DomainError, match=r"^mute-0: QMP at .* did not answer within 1s"):
            await domain.connect(wait=1)
    finally:
        server.close()
