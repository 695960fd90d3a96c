"""A client killed with SIGKILL mid-console-stream changes nothing: the daemon,
the VM and another client carry on."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.remote_helpers import connected, daemon, scripted_yaml, states, until

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def _read(fd: int, proc: subprocess.Popen[bytes], want: bytes, timeout: float) -> bytes:
    """What the client drew until ``want`` shows (escape sequences taken out)."""
    out = b""
    deadline = time.monotonic() + timeout
    while want not in ANSI.sub(b"", out) and time.monotonic() < deadline \
            and proc.poll() is None:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return ANSI.sub(b"", out)


async def test_a_killed_client_changes_nothing(tmp_path: Path) -> None:
    config = scripted_yaml(tmp_path / "k.yaml", "kill", 2, tmp_path / "w",
                           lines=["hello {name}"])
    with daemon(tmp_path, [config]) as d:
        other = await connected(d)
        await until(lambda: states(other) == {"kill-0": "running", "kill-1": "running"}, 10)
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "vmtui", "attach", f"unix:{d.socket}"], stdin=follower,
            stdout=follower, stderr=follower, start_new_session=True,
            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "30"})
        os.close(follower)
        try:
            assert b"kill-1" in _read(leader, proc, b"kill-1", 30)
            os.write(leader, b"\r")  # open kill-0: its console streams to this client
            assert b"hello kill-0" in _read(leader, proc, b"hello kill-0", 15)

            async def flood(first: int, count: int) -> None:
                for i in range(first, first + count):
                    await other.type_into("kill-0", f"flood {i:05d}\r".encode())

            await flood(0, 50)
            # Flood lines reach its screen (a terminal repaints rows in pieces:
            # the start of one is enough).
            shown = await asyncio.to_thread(_read, leader, proc, b"flood 000", 15)
            assert b"flood 000" in shown  # mid-stream
            streaming = asyncio.create_task(flood(50, 200))
            await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(10) == -signal.SIGKILL
            await streaming
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(leader)
        # The daemon and the VM carry on, and so does the other client.
        assert d.proc is not None and d.proc.poll() is None
        await other.type_into("kill-0", b"still here\r")
        cursor = other.console_start("kill-0")
        await until(lambda: any(line[2] == "still here"
                                for line in other.console_since("kill-0", cursor).lines), 10)
        texts = [line[2] for line in other.console_since("kill-0", cursor).lines]
        assert [t for t in texts if t.startswith("flood")] == \
            [f"flood {i:05d}" for i in range(250)]
        assert states(other) == {"kill-0": "running", "kill-1": "running"}
        assert other.connection() == ""
        # A new client is served as before.
        third = await connected(d)
        assert states(third) == states(other)
        await third.close()
        await other.close()
