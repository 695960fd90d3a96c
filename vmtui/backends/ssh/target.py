"""SSH to guests with asyncssh: connection options and waiting for a guest."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

# Without a pinned key asyncssh offers RSA first; a dropbear holding only an
# ed25519 host key then drops the connection. Offer modern algorithms first.
UNPINNED_HOST_KEY_ALGS = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                          "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]

# What names the running boot: Linux's boot id, the BSDs' boot time.
BOOT_ID = "cat /proc/sys/kernel/random/boot_id 2>/dev/null || sysctl -n kern.boottime"


@dataclass(frozen=True)
class SSHTarget:
    """Where and how to reach one guest."""

    host: str
    port: int
    user: str
    key: Path | None
    host_key: Path | None
    check_host_key: bool

    def options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`asyncssh.connect`."""
        known_hosts: Any = None
        extra: dict[str, Any] = {"server_host_key_algs": UNPINNED_HOST_KEY_ALGS}
        if self.check_host_key:
            if self.host_key is None:
                raise ValueError("host key checking is on but no host key is known")
            known_hosts = ([asyncssh.read_public_key(str(self.host_key))], [], [])
            extra = {}  # asyncssh offers exactly the pinned key's algorithm
        return {
            **extra,
            "host": self.host,
            "port": self.port,
            "username": self.user,
            "client_keys": [str(self.key)] if self.key else None,
            "known_hosts": known_hosts,
            "agent_path": None,
            "config": [],  # never read ~/.ssh/config: the guest is ours
            # A machine that reboots or dies under a quiet session (dmesg -w) sends no
            # FIN: keepalives find out, and the session is opened again.
            "keepalive_interval": 5, "keepalive_count_max": 3,
        }

    def connect(self, timeout: float = 10.0, sock: socket.socket | None = None) -> Any:
        """An asyncssh connection (an async context manager), over ``sock`` if
        given (a connected socket whose banner is still unread)."""
        return asyncssh.connect(connect_timeout=timeout, sock=sock, **self.options())


async def wait_for_ssh(target: SSHTarget, timeout: float, poll: float = 0.1,
                       nudge: asyncio.Event | None = None) -> float:
    """Retry until the guest's SSH server accepts us; return the seconds it took.

    Short TCP probes wait for the port to answer with an SSH banner (a probe
    made before the guest's network is up hangs: it is given up after half a
    second, never a long timeout); the login then goes over that very
    connection, so readiness is seen within a probe of the server starting.
    ``nudge`` (set when the guest prints something) brings the next probe
    forward: a guest says on its console that its SSH server is up.

    Raises:
        TimeoutError: naming the address and the last error seen.
        asyncssh.HostKeyNotVerifiable: the guest's host key is not the pinned one.
    """
    start = time.monotonic()
    deadline = start + timeout
    last: BaseException | None = None
    while True:
        sock = await banner_seen(target, deadline, poll, nudge=nudge)
        if sock is None:
            why = f" (last error: {str(last) or type(last).__name__})" if last else ""
            raise TimeoutError(
                f"SSH at {target.host}:{target.port} did not answer within {timeout:g}s{why}")
        try:
            left = max(0.1, min(deadline - time.monotonic(), 10.0))
            async with target.connect(timeout=left, sock=sock):
                return time.monotonic() - start
        except asyncssh.HostKeyNotVerifiable:
            raise
        except (asyncssh.ConnectionLost, asyncssh.KeyExchangeFailed) as exc:
            # The SSH server answered but dropped us during key exchange: a pinned
            # key of a type the server does not hold does that. Ask it which it has.
            last = exc
            if target.check_host_key and (why := await _other_key_type(target)):
                raise asyncssh.HostKeyNotVerifiable(why) from exc
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            last = exc
        finally:
            sock.close()
        await _between(poll, deadline, nudge)


async def _banner(target: SSHTarget, limit: float) -> socket.socket | None:
    """A socket connected to ``target`` whose peer sent an SSH identification
    line (peeked at, left unread for the SSH client); None if none came."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except OSError:
        return None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(limit):
            await loop.sock_connect(sock, address)
            while True:
                readable = loop.create_future()
                loop.add_reader(sock, readable.set_result, None)
                try:
                    await readable
                finally:
                    loop.remove_reader(sock)
                head = sock.recv(4, socket.MSG_PEEK)
                if len(head) == 4 or not head:
                    break
                await asyncio.sleep(0.01)  # a banner trickling in
    except (OSError, TimeoutError):
        sock.close()
        return None
    if head != b"SSH-":
        sock.close()
        return None
    return sock


async def banner_seen(target: SSHTarget, deadline: float, poll: float = 0.1,
                      each: float = 0.5, nudge: asyncio.Event | None = None,
                      ) -> socket.socket | None:
    """Probe ``target`` (one probe at a time, each given ``each`` seconds, the next
    ``poll`` seconds later, or sooner when ``nudge`` is set) until one sees an
    SSH banner: that probe's socket; None at ``deadline`` (monotonic)."""
    while (left := deadline - time.monotonic()) > 0:
        if nudge is not None:
            nudge.clear()  # what the guest prints from now on may mean it is up
        if (sock := await _banner(target, min(each, left))) is not None:
            return sock
        await _between(poll, deadline, nudge)
    return None


NUDGE_GAP = 0.02  # the least time between two probes, however busy the console


async def _between(poll: float, deadline: float, nudge: asyncio.Event | None) -> None:
    """The pause before the next probe: ``poll`` seconds, cut short by ``nudge``."""
    wait = min(poll, max(0.0, deadline - time.monotonic()))
    if nudge is None or wait <= NUDGE_GAP:
        await asyncio.sleep(wait)
        return
    await asyncio.sleep(NUDGE_GAP)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(nudge.wait(), wait - NUDGE_GAP)


async def _other_key_type(target: SSHTarget) -> str:
    """Why the pinned host key cannot match: the server offers another key type
    (empty when it offers the pinned type, or cannot be asked)."""
    assert target.host_key is not None
    pinned = asyncssh.read_public_key(str(target.host_key))
    try:
        key = await asyncio.wait_for(asyncssh.get_server_host_key(
            target.host, target.port, server_host_key_algs=UNPINNED_HOST_KEY_ALGS,
            config=[]), 10)
    except (TimeoutError, OSError, asyncssh.Error):
        return ""
    if key is None or key.get_algorithm() == pinned.get_algorithm():
        return ""
    return (f"the SSH server at {target.host}:{target.port} holds a "
            f"{key.get_algorithm()} host key, but the pinned ssh_host_key "
            f"{target.host_key} is {pinned.get_algorithm()}")
