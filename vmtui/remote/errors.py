"""What a call to the daemon can fail with, beside the contract's VMError classes."""

from __future__ import annotations

from typing import Any

from vmtui.backends.fleet.wire import error_from_json
from vmtui.backends.vm.errors import VMError


class Unreachable(VMError):
    """No daemon answers at the address (or the connection dropped)."""


class Refused(VMError):
    """The daemon refused the token (401: missing or wrong; 403: read-only)."""


class Incompatible(VMError):
    """The daemon speaks another API version (trying again will not help)."""


class BadRequest(VMError):
    """The daemon found the request malformed (a client bug or a bad argument)."""


class NotFound(KeyError):
    """No pool has that instance (or the daemon has no such thing).

    A KeyError, as :class:`~vmtui.backends.fleet.control.Control` says; its
    text is the daemon's message, not a quoted key.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


def error_of(status: int, body: Any) -> Exception:
    """The exception an error answer (``status``, parsed ``body``) stands for."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        kind, message = str(error.get("type", "")), str(error.get("message", ""))
    else:
        kind, message = "", f"HTTP {status}"
    message = message or f"HTTP {status}"
    if status == 401 or kind == "Unauthorized":
        return Refused(f"unauthorized: {message}; give the daemon's token with "
                       "--token-file FILE or $VMTUI_TOKEN (the daemon printed where its "
                       "token files are: <workdir>/.vmtui/token, token-ro to look only)")
    if status == 403 or kind == "Forbidden":
        return Refused(f"forbidden: {message}")
    if kind == "NotFound" or (status == 404 and not kind):
        return NotFound(message)
    if kind == "BadRequest" or (400 <= status < 500 and not kind):
        return BadRequest(message)
    return error_from_json({"error": kind, "message": message})
