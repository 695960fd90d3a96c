"""A real daemon for the client's tests: ``sys.executable -m vmtui serve`` in a
subprocess, on a Unix socket (and TCP when asked), stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from vmtui.remote.address import Address, parse_address
from vmtui.remote.control import RemoteControl


def scripted_yaml(path: Path, name: str, count: int, workdir: Path, *,
                  lines: list[str] | None = None, fail: list[int] | None = None) -> Path:
    """A scripted pool's config file (as tests/helpers.py's scripted_config)."""
    path.write_text(yaml.safe_dump({"name": name, "type": "scripted", "count": count,
                                    "workdir": str(workdir),
                                    "vm": {"lines": lines or [], "fail": fail or []}}))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """``vmtui serve CONFIGS --listen unix:SOCK [--listen tcp:...]``, started and stopped."""

    def __init__(self, folder: Path, configs: list[Path], *, tcp: bool = False) -> None:
        self.folder = folder
        self.configs = configs
        private = folder / "run"
        private.mkdir(mode=0o700, exist_ok=True)  # the daemon refuses a folder others enter
        self.socket = private / "d.sock"
        self.port = free_port() if tcp else None
        self.log = folder / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> Address:
        return parse_address(f"unix:{self.socket}")

    @property
    def tcp(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        argv = [sys.executable, "-m", "vmtui", "serve", *map(str, self.configs),
                "--listen", f"unix:{self.socket}"]
        if self.port is not None:
            argv += ["--listen", self.tcp]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._answers():
            assert self.proc.poll() is None, f"the daemon ended: {self.log.read_text()}"
            assert time.monotonic() < deadline, f"no daemon socket: {self.log.read_text()}"
            time.sleep(0.05)

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(self.socket))
            except OSError:
                return False
        return True

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM it; its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"the daemon did not stop: {self.log.read_text()}") from None

    def token(self, kind: str = "token") -> Path:
        """The token file the daemon made (``token`` or ``token-ro``)."""
        workdir = Path(yaml.safe_load(self.configs[0].read_text())["workdir"])
        return workdir / ".vmtui" / kind


@contextmanager
def daemon(folder: Path, configs: list[Path], *, tcp: bool = False) -> Iterator[Daemon]:
    d = Daemon(folder, configs, tcp=tcp)
    d.start()
    try:
        yield d
    finally:
        d.stop()


async def connected(d: Daemon, **kwargs: Any) -> RemoteControl:
    """A RemoteControl on ``d``, its stream live."""
    control = RemoteControl(d.address, **kwargs)
    await control.connect()
    await control.wait_live(10)
    return control


async def until(cond: Callable[[], object], timeout: float, what: str = "") -> None:
    """Poll ``cond`` until it holds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what or "condition not met in time"
        await asyncio.sleep(0.02)


def states(control: RemoteControl) -> dict[str, str]:
    return {s.name: s.state.value for s in control.snapshot()}


def ctl(*words: str, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``vmtui ctl WORDS``, its output and status."""
    return subprocess.run([sys.executable, "-m", "vmtui", "ctl", *words], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
