"""Where the daemon listens and keeps its state: addresses (the daemon's and its
clients' one scheme), the default socket, the state folder and its tokens."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

# sockaddr_un's sun_path: 108 bytes with the terminating NUL.
MAX_SOCKET_PATH = 107


class AddressError(ValueError):
    """An address, folder or token file the daemon cannot use (the message says why)."""


@dataclass(frozen=True)
class Address:
    """``unix:PATH`` or ``tcp:HOST:PORT``."""

    kind: str  # "unix" or "tcp"
    path: Path | None = None
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp:{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL a client joins every path to (a Unix socket's host name is a placeholder)."""
        if self.kind == "unix":
            return "http://vmtui"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def loopback(self) -> bool:
        """A TCP address only this machine reaches (a Unix socket always is)."""
        if self.kind == "unix" or self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a host name: it may resolve anywhere
            return False


def parse_address(text: str) -> Address:
    """``unix:PATH`` or ``tcp:HOST:PORT`` (an IPv6 host in brackets).

    Raises:
        AddressError: neither form, or a bad port.
    """
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("unix", "tcp") or not rest:
        raise AddressError(f"{text!r}: an address is unix:PATH or tcp:HOST:PORT")
    if kind == "unix":
        return Address("unix", path=Path(rest).expanduser())
    host, sep, port = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise AddressError(f"{text!r}: a TCP address is tcp:HOST:PORT (a port 0 to 65535)")
    return Address("tcp", host=host, port=int(port))


def socket_folder() -> Path:
    """Where default sockets live, the same for the daemon and its clients wherever
    they run from: $XDG_RUNTIME_DIR/vmtui, else $TMPDIR/vmtui-UID (/tmp without
    TMPDIR; the daemon makes it 0700 and refuses one that is not its own)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "vmtui"
    return Path(os.environ.get("TMPDIR") or "/tmp") / f"vmtui-{os.getuid()}"


def default_socket(name: str) -> Address:
    """The daemon's Unix socket when no ``unix:`` address is given."""
    return Address("unix", path=socket_folder() / f"{name}.sock")


def private_folder(path: Path) -> Path:
    """``path`` as a folder only this user can enter: made 0700 if missing, and
    refused when it belongs to someone else or others may enter it.

    Raises:
        AddressError: why it cannot be used.
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise AddressError(f"{path}: {exc.strerror or exc}") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise AddressError(f"{path}: not a folder")
    if info.st_uid != os.getuid():
        raise AddressError(f"{path}: belongs to uid {info.st_uid}, not to this user")
    if info.st_mode & 0o077:
        raise AddressError(f"{path}: others may enter it (mode {info.st_mode & 0o777:04o}); "
                           "chmod 700 it")
    return path


def free_socket_path(path: Path) -> None:
    """Make ``path`` ready for a new socket: a stale one (no daemon answers) is
    removed; a live one, or any other file, is refused.

    Raises:
        AddressError: another daemon listens there, the path is no socket or too long.
    """
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise AddressError(f"{path}: a socket path is at most {MAX_SOCKET_PATH} bytes "
                           "(give a shorter one with --listen unix:PATH)")
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise AddressError(f"{path}: exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)  # stale: its daemon is gone
        return
    finally:
        probe.close()
    raise AddressError(f"{path}: another daemon listens there")


def state_folder(workdir: Path) -> Path:
    """The daemon's state (its tokens): <workdir of the first pool>/.vmtui."""
    return workdir / ".vmtui"


@dataclass(frozen=True)
class Tokens:
    """The full token and the read-only one, and where they are."""

    full: str
    read_only: str
    full_file: Path
    read_only_file: Path


def load_tokens(folder: Path) -> Tokens:
    """The tokens in ``folder`` (``token``, ``token-ro``), made at first start
    (0600, 32 random bytes each, URL-safe text).

    Raises:
        AddressError: a token file is unreadable, empty, or others may read it.
    """
    private_folder(folder)
    values = []
    for file in (folder / "token", folder / "token-ro"):
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            info = file.lstat()
            if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
                raise AddressError(f"{file}: must be a file only its owner reads "
                                   "(chmod 600 it)") from None
            value = file.read_text().strip()
            if not value:
                raise AddressError(f"{file}: empty (remove it to get a new token)") from None
        except OSError as exc:
            raise AddressError(f"{file}: {exc.strerror or exc}") from exc
        else:
            value = secrets.token_urlsafe(32)
            with os.fdopen(fd, "w") as out:
                out.write(value + "\n")
        values.append(value)
    if values[0] == values[1]:
        raise AddressError(f"{folder}: token and token-ro are the same")
    return Tokens(values[0], values[1], folder / "token", folder / "token-ro")
