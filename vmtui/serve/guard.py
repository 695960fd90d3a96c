"""What every request passes: errors as JSON, the Origin check, tokens over TCP,
and the validation of request bodies."""

from __future__ import annotations

import hmac
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from vmtui.backends.fleet.wire import error_to_json
from vmtui.backends.vm.errors import BootError, InfraError, VMError
from vmtui.serve.state import TOKENS, log

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
READ_ONLY = "read_only"  # request key: the request came with the read-only token

# The error type a client sees for each HTTP status aiohttp itself may answer.
_HTTP_TYPES = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}


def error(status: int, kind: str, message: str) -> web.Response:
    """The API's error answer: ``{"error": {"type": kind, "message": message}}``."""
    return web.json_response({"error": {"type": kind, "message": message}}, status=status)


class ApiError(Exception):
    """A request the API refuses; the handler raises it, the middleware answers."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "NotFound", message)


def vm_error(exc: VMError) -> web.Response:
    """A Control's VMError: 409 when the instance cannot do it now, 500 when
    the host or the VM failed (the class crosses as the type)."""
    status = 500 if isinstance(exc, (InfraError, BootError)) else 409
    body = error_to_json(exc)
    return error(status, body["error"], body["message"])


def _trusted(request: web.Request) -> bool:
    """Came over the Unix socket (its 0700 folder is the boundary)."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    return sock is not None and sock.family == socket.AF_UNIX


def _cross_site(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    parts = urlsplit(origin)
    return parts.scheme not in ("http", "https") or parts.netloc != request.host


def _token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None  # no cookie: the browser's login (#26) will set one properly


def _which_token(request: web.Request, given: str) -> str | None:
    """"full", "read-only" or None; both compared in constant time, always
    (tokens are ASCII: anything else is simply wrong)."""
    tokens = request.app[TOKENS]
    sent = given.encode("ascii", "replace")
    full = hmac.compare_digest(sent, tokens.full.encode())
    ro = hmac.compare_digest(sent, tokens.read_only.encode())
    return "full" if full else "read-only" if ro else None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Origin, tokens and errors, before and around every handler."""
    request[READ_ONLY] = False
    if not _trusted(request):
        given = _token(request)
        which = _which_token(request, given) if given is not None else None
        if which is None:
            return error(401, "Unauthorized", "a valid token is needed "
                         "(Authorization: Bearer TOKEN)")
        request[READ_ONLY] = which == "read-only"
    if _cross_site(request):
        return error(403, "Forbidden", "cross-site request refused (Origin "
                     f"{request.headers['Origin']!r} is not this host)")
    if request[READ_ONLY] and request.method not in ("GET", "HEAD"):
        return error(403, "Forbidden", "read-only token")
    try:
        return await handler(request)
    except ApiError as exc:
        return error(exc.status, exc.kind, str(exc))
    except VMError as exc:
        return vm_error(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = _HTTP_TYPES.get(exc.status, "BadRequest" if exc.status < 500 else "VMError")
        return error(exc.status, kind, exc.reason if exc.status != 413 else
                     f"request body too large (at most {request.client_max_size} bytes)")
    except Exception as exc:
        # The arguments were checked before the call (api.py: names, actions,
        # tabs, diagnose actions, bodies): anything else is the daemon's bug.
        log.exception("%s %s failed", request.method, request.path)
        return error(500, "VMError", f"internal error: {type(exc).__name__}: {exc}")


# -- request bodies ---------------------------------------------------------------

async def body(request: web.Request, fields: dict[str, type]) -> dict[str, Any]:
    """The JSON object of ``request``'s body with exactly ``fields`` (name: type).

    Raises:
        ApiError: not JSON, not an object, a field missing, unknown or of the
            wrong type (the message names it); web.HTTPRequestEntityTooLarge
            past the app's client_max_size.
    """
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request(f"the body must be a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise bad_request(f"unknown field {unknown[0]!r} (expected: {', '.join(fields)})")
    for name, tp in fields.items():
        if name not in data:
            raise bad_request(f"field {name!r} is missing")
        value = data[name]
        ok = isinstance(value, tp) and not (tp is not bool and isinstance(value, bool))
        if tp is list:
            ok = ok and all(isinstance(v, str) for v in value)
        if not ok:
            want = "a list of strings" if tp is list else _jsontype(tp())
            raise bad_request(f"field {name!r} must be {want}, not {_jsontype(value)}")
    return data


async def no_body(request: web.Request) -> None:
    """A POST that takes nothing: an empty body, or ``{}``."""
    raw = await request.read()
    if raw.strip() and raw.strip() != b"{}":
        await body(request, {})


def _jsontype(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value), "?")
