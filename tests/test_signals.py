"""SIGTERM and SIGHUP end vmtui as Ctrl+C does; stale runtime folders are swept."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmtui.backends.fleet import runtime


def _read_until(fd: int, proc: subprocess.Popen[bytes], want: bytes, timeout: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while want not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
        elif proc.poll() is not None:
            break
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_closes_the_fleet_and_restores_the_terminal(tmp_path: Path,
                                                             sig: signal.Signals) -> None:
    config = tmp_path / "pool.yaml"
    config.write_text(f"name: sig\ntype: scripted\ncount: 2\nworkdir: {tmp_path / 'work'}\n"
                      "vm: {lines: [hello]}\n")
    temp = tmp_path / "tmp"
    temp.mkdir()
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "vmtui", str(config)], stdin=follower,
                            stdout=follower, stderr=follower, start_new_session=True,
                            env={**os.environ, "TMPDIR": str(temp), "TERM": "xterm-256color",
                                 "COLUMNS": "100", "LINES": "30"})
    os.close(follower)
    try:
        shown = _read_until(leader, proc, b"sig-1", 30)
        assert b"sig-1" in shown, shown[-500:]
        assert len(list(temp.glob("vmtui-*"))) == 1  # the fleet's runtime folder
        proc.send_signal(sig)
        rest = _read_until(leader, proc, b"\x1b[?1049l", 15)
        assert proc.wait(timeout=15) == 128 + sig
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    assert b"\x1b[?1049l" in rest  # out of the alternate screen
    assert list(temp.glob("vmtui-*")) == []


def test_stale_runtime_folders_are_swept(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / "vmtui-stale"
    stale.mkdir()
    (stale / runtime.OWNER).write_text(f"{dead.pid}\n")
    (stale / "x.qmp").write_text("")
    alive = tmp_path / "vmtui-alive"
    alive.mkdir()
    (alive / runtime.OWNER).write_text(f"{os.getppid()}\n")
    unowned = tmp_path / "vmtui-unowned"
    unowned.mkdir()
    mine = runtime.make(tmp_path)
    assert not stale.exists()
    assert alive.exists() and unowned.exists() and mine.exists()
    assert (mine / runtime.OWNER).read_text() == f"{os.getpid()}\n"
    assert oct(mine.stat().st_mode & 0o777) == "0o700"
