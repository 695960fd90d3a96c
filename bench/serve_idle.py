"""Idle cost of the daemon and its clients: ``vmtui serve`` with 32 idle
scripted instances and 8 real ``vmtui attach`` processes, each on its own pty
(160x48, xterm-256color; what they draw is read and thrown away).

Scripted instances print two lines at boot and then nothing: what is measured
is the daemon (its pools, the instance list, the streams) and the clients
(their mirror and the whole Textual front), not guests. Once every instance
runs and every client has drawn its pool table, the CPU each process used
(user + system, from /proc/PID/stat) is read over ``--seconds`` (>= 30),
``--runs`` times back to back. ``--open K`` makes K of the clients open the
first instance's screen first (its console subscribed on the stream).

    .venv/bin/python bench/serve_idle.py [--instances 32] [--clients 8]
        [--seconds 30] [--runs 3] [--open 0]

Targets (issue #25): the daemon <= 3% of a core, each idle client <= 1%.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.serve_daemon import Daemon, scripted_yaml

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
SIZE = (160, 48)


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Client:
    """``vmtui attach`` on a pty; a thread reads what it draws (the last 64 KB kept)."""

    def __init__(self, sock: Path) -> None:
        self.leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vmtui", "attach", f"unix:{sock}"], stdin=follower,
            stdout=follower, stderr=follower, start_new_session=True,
            env={**os.environ, "TERM": "xterm-256color"})
        os.close(follower)
        self.drawn = b""
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while self.proc.poll() is None:
            ready, _, _ = select.select([self.leader], [], [], 0.2)
            if ready:
                try:
                    data = os.read(self.leader, 65536)
                except OSError:
                    return
                with self.lock:
                    self.drawn = (self.drawn + data)[-65536:]

    def shows(self, text: bytes) -> bool:
        with self.lock:
            return text in ANSI.sub(b"", self.drawn)

    def press(self, keys: bytes) -> None:
        os.write(self.leader, keys)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(2)
        os.close(self.leader)


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=32)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--open", type=int, default=0,
                        help="clients that open the first instance's screen")
    args = parser.parse_args()
    print(f"{args.instances} idle scripted instances, {args.clients} attach clients "
          f"({args.open} on an instance screen), {args.runs} windows of {args.seconds:g} s; "
          f"load {load()} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        config = scripted_yaml(Path(tmp) / "p", count=args.instances, name="idle",
                               lines=["[    0.000000] Linux version 6.1 (scripted)", "login:"])
        with Daemon([config]) as d:
            wait_for(lambda: sum(s["state"] == "running" for s in d.get("/api/v1/instances"))
                     == args.instances, 120, "every instance to run")
            clients: list[Client] = []
            try:
                for _ in range(args.clients):
                    clients.append(Client(d.sock))
                last = f"idle-{args.instances - 1}".encode()
                for c in clients:
                    wait_for(lambda c=c: c.shows(last), 60, "a client's pool table")
                for c in clients[:args.open]:
                    c.press(b"\r")
                    wait_for(lambda c=c: c.shows(b"login:"), 30, "a client's console")
                time.sleep(5)  # warm-up: first paints, caches, the collector
                results = measure(d, clients, args)
            finally:
                for c in clients:
                    c.close()
            assert d.stop() == 0
    daemon_runs, client_runs = results
    print(f"daemon: median {statistics.median(daemon_runs):.2f}% of a core "
          f"(runs {', '.join(f'{v:.2f}' for v in daemon_runs)}); target 3%")
    per_client = [statistics.median(r) for r in zip(*client_runs, strict=True)]
    print(f"clients: median {statistics.median(per_client):.2f}%, worst "
          f"{max(per_client):.2f}% of a core (each client's median over the runs: "
          f"{', '.join(f'{v:.2f}' for v in per_client)}); target 1% each")


def measure(d: Daemon, clients: list[Client], args: argparse.Namespace
            ) -> tuple[list[float], list[list[float]]]:
    """Each window: the daemon's and each client's CPU, in percent of a core."""
    pids = [d.proc.pid] + [c.proc.pid for c in clients]
    daemon_runs: list[float] = []
    client_runs: list[list[float]] = []
    for run in range(1, args.runs + 1):
        before = [cpu_seconds(p) for p in pids]
        start = time.monotonic()
        time.sleep(args.seconds)
        spent = [cpu_seconds(p) - b for p, b in zip(pids, before, strict=True)]
        elapsed = time.monotonic() - start
        percent = [100 * s / elapsed for s in spent]
        daemon_runs.append(percent[0])
        client_runs.append(percent[1:])
        print(f"run {run}: daemon {percent[0]:.2f}%; clients "
              f"{', '.join(f'{p:.2f}' for p in percent[1:])}% of a core; load {load()}",
              flush=True)
    return daemon_runs, client_runs


if __name__ == "__main__":
    main()
