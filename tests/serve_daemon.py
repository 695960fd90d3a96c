"""A real ``vmtui serve`` subprocess for the daemon's tests, and plain HTTP to it."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

PANIC = ["Kernel panic - not syncing: boom {index}",
         "---[ end Kernel panic - not syncing: boom ]---"]


def scripted_yaml(folder: Path, *, count: int = 2, lines: list[str] | None = None,
                  name: str = "snap") -> Path:
    """A scripted pool's config file in ``folder`` (its workdir ``folder/work``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "type": "scripted", "count": count, "workdir": str(folder / "work"),
        "vm": {"lines": lines if lines is not None else ["hello from {name}"]}}))
    return path


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30.0) -> None:
        super().__init__("vmtui", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Daemon:
    """``vmtui serve CONFIG... ARGS`` started and read until it listens.

    ``sock`` is its Unix socket, ``port`` its TCP port (when asked with
    ``tcp=True``: an ephemeral port on 127.0.0.1), ``workdir`` the first pool's.
    """

    def __init__(self, configs: list[Path], *, tcp: bool = False, args: list[str] = (),
                 env: dict[str, str] | None = None, sock: Path | None = None) -> None:
        self.configs = configs
        self.workdir = Path(yaml.safe_load(configs[0].read_text())["workdir"])
        self.run_dir = Path(tempfile.mkdtemp(prefix="vs", dir="/tmp"))
        self.sock = sock or self.run_dir / "d.sock"
        argv = [sys.executable, "-m", "vmtui", "serve", *map(str, configs), *args]
        if sock is None and not any(a.startswith("unix:") for a in args):
            argv += ["--listen", f"unix:{self.sock}"]
        if tcp:
            argv += ["--listen", "tcp:127.0.0.1:0"]
        self.env = {**os.environ, **(env or {})}
        self.err_file = self.run_dir / "stderr"  # a file: a full pipe would block it
        with self.err_file.open("w") as err:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err,
                                         text=True, env=self.env)
        self.port = 0
        self.lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if not line:
                raise AssertionError(f"the daemon ended: {self.stop_and_read()}")
            self.lines.append(line)
            if m := re.search(r"listening on unix:(\S+)", line):
                self.sock = Path(m.group(1))
            if m := re.search(r"listening on tcp:[^ ]*:(\d+) ", line):
                self.port = int(m.group(1))
            if "started:" in line:
                return
        raise AssertionError(f"the daemon did not start: {self.lines}")

    @property
    def token(self) -> str:
        return (self.workdir / ".vmtui" / "token").read_text().strip()

    @property
    def token_ro(self) -> str:
        return (self.workdir / ".vmtui" / "token-ro").read_text().strip()

    def request(self, method: str, path: str, body: bytes | str | None = None, *,
                tcp: bool = False, headers: dict[str, str] | None = None
                ) -> tuple[int, Any]:
        """(status, JSON body or text) of one request over the socket or TCP."""
        conn: http.client.HTTPConnection = (
            http.client.HTTPConnection("127.0.0.1", self.port, timeout=30) if tcp
            else UnixHTTPConnection(str(self.sock)))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        text = raw.decode()
        if resp.getheader("Content-Type", "").startswith("application/json"):
            return resp.status, json.loads(text)
        return resp.status, text

    def get(self, path: str, **kw: Any) -> Any:
        status, body = self.request("GET", path, **kw)
        assert status == 200, (path, status, body)
        return body

    def post(self, path: str, body: object = None, **kw: Any) -> tuple[int, Any]:
        return self.request("POST", path, None if body is None else json.dumps(body), **kw)

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss(self) -> int:
        """Resident memory in bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal the daemon; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    @property
    def stderr(self) -> str:
        return self.err_file.read_text()

    def stop_and_read(self) -> str:
        self.stop()
        out = self.proc.stdout.read() if self.proc.stdout else ""
        return "".join(self.lines) + out + self.stderr

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
