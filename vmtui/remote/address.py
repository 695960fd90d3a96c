"""Where the daemon is (``unix:PATH``, ``tcp:HOST:PORT``, or its default
socket) and the token a TCP client sends."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TOKEN_ENV = "VMTUI_TOKEN"


class AddressError(ValueError):
    """An address, socket folder or token file the client cannot use (the message says why)."""


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
        """The URL every path is joined to (a Unix socket's host name is a placeholder)."""
        if self.kind == "unix":
            return "http://vmtui"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def is_address(text: str) -> bool:
    """Whether ``text`` is meant as an address (not a command word)."""
    return text.startswith(("unix:", "tcp:"))


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
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise AddressError(f"{text!r}: a TCP address is tcp:HOST:PORT (a port 1 to 65535)")
    return Address("tcp", host=host, port=int(port))


def socket_folder(workdir: Path | None = None) -> Path:
    """Where daemons put their default sockets: $XDG_RUNTIME_DIR/vmtui, else
    <workdir>/.vmtui (the current folder unless given)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "vmtui" if runtime else (workdir or Path.cwd()) / ".vmtui"


def default_address(name: str | None = None, workdir: Path | None = None) -> Address:
    """The default socket of daemon ``name``, or the only socket in the folder.

    Raises:
        AddressError: no such socket, none at all, or several (``--name`` picks one).
    """
    folder = socket_folder(workdir)
    if name is not None:
        path = folder / f"{name}.sock"
        if not path.exists():
            raise AddressError(f"{path}: no such socket (is 'vmtui serve' running "
                               f"a pool named {name!r}?)")
        return Address("unix", path=path)
    try:
        sockets = sorted(folder.glob("*.sock"))
    except OSError as exc:
        raise AddressError(f"{folder}: {exc.strerror or exc}") from exc
    if not sockets:
        raise AddressError(f"no daemon socket in {folder} (start one with 'vmtui serve "
                           "CONFIG', or give an ADDRESS)")
    if len(sockets) > 1:
        names = ", ".join(p.stem for p in sockets)
        raise AddressError(f"several daemon sockets in {folder} ({names}): pick one "
                           "with --name NAME or give an ADDRESS")
    return Address("unix", path=sockets[0])


def resolve(address: str | None, name: str | None = None) -> Address:
    """The address given, else the default socket (see :func:`default_address`)."""
    return parse_address(address) if address else default_address(name)


def read_token(token_file: str | None) -> str | None:
    """The bearer token: from ``token_file`` (its first line), else $VMTUI_TOKEN.

    Raises:
        AddressError: the file cannot be read or is empty.
    """
    if token_file:
        try:
            token = Path(token_file).expanduser().read_text().strip()
        except OSError as exc:
            raise AddressError(f"--token-file {token_file}: {exc.strerror or exc}") from exc
        if not token:
            raise AddressError(f"--token-file {token_file}: empty")
        return token.splitlines()[0].strip()
    return os.environ.get(TOKEN_ENV, "").strip() or None
