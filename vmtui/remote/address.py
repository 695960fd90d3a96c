"""Where the daemon is (``unix:PATH``, ``tcp:HOST:PORT``, or its default
socket) and the token a TCP client sends."""

from __future__ import annotations

import os
from pathlib import Path

# One address scheme for the daemon and its clients: the daemon's module defines it.
from vmtui.serve.addresses import Address, AddressError, parse_address, socket_folder

__all__ = ["TOKEN_ENV", "Address", "AddressError", "check_private", "default_address",
           "is_address",
           "parse_address", "read_token", "resolve", "socket_folder"]

TOKEN_ENV = "VMTUI_TOKEN"


def is_address(text: str) -> bool:
    """Whether ``text`` is meant as an address (not a command word)."""
    return text.startswith(("unix:", "tcp:"))


def default_address(name: str | None = None) -> Address:
    """The default socket of daemon ``name``, or the only socket in the folder.

    Raises:
        AddressError: no such socket, none at all, or several (``--name`` picks one);
            or (without $XDG_RUNTIME_DIR) a $TMPDIR/vmtui-UID that someone else could have
            put a socket in.
    """
    folder = socket_folder()
    if not os.environ.get("XDG_RUNTIME_DIR"):
        check_private(folder)
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


def check_private(folder: Path) -> None:
    """Refuse a socket folder not this user's own, or one others may write in.

    Raises:
        AddressError: it is someone else's, or group or other writable.
    """
    try:
        st = folder.stat()
    except FileNotFoundError:
        return  # no socket in it either: said by the caller
    except OSError as exc:
        raise AddressError(f"{folder}: {exc.strerror or exc}") from exc
    if st.st_uid != os.getuid():
        raise AddressError(f"{folder}: belongs to uid {st.st_uid}, not to you: its sockets "
                           "are not trusted (give an ADDRESS, or set XDG_RUNTIME_DIR)")
    if st.st_mode & 0o022:
        raise AddressError(f"{folder}: others may write in it (mode {st.st_mode & 0o777:o}): "
                           f"its sockets are not trusted (chmod go-w {folder}, or give an "
                           "ADDRESS)")


def resolve(address: str | None, name: str | None = None) -> Address:
    """The address given, else the default socket (see :func:`default_address`)."""
    if not address:
        return default_address(name)
    found = parse_address(address)
    if found.kind == "tcp" and found.port == 0:
        raise AddressError(f"{address!r}: a client needs the daemon's port (1 to 65535)")
    return found


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
