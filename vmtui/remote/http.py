"""One aiohttp session to a daemon: REST calls and the stream's WebSocket,
over its Unix socket or over TCP with the bearer token."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp

from vmtui.remote.address import Address
from vmtui.remote.errors import Unreachable, error_of

API = "/api/v1"
CONNECT_TIMEOUT = 5.0  # seconds to reach the daemon
READ_TIMEOUT = 30.0  # seconds a read waits for its answer (actions wait as long as they run)


def part(text: str) -> str:
    """``text`` as one URL path segment (an instance name, a tag, an action)."""
    return quote(text, safe="")


class Api:
    """The daemon at ``address``; its session is made on first use, in the running loop.

    The token goes over TCP only: a Unix socket needs none (its 0700 folder is
    the boundary), and a socket someone else made must not learn it.
    """

    def __init__(self, address: Address, token: str | None = None) -> None:
        self.address = address
        self._headers = ({"Authorization": f"Bearer {token}"}
                         if token and address.kind == "tcp" else {})
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector: aiohttp.BaseConnector
            if self.address.kind == "unix":
                connector = aiohttp.UnixConnector(path=str(self.address.path))
            else:
                connector = aiohttp.TCPConnector()
            self._session = aiohttp.ClientSession(
                base_url=self.address.base_url, connector=connector, headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT))
        return self._session

    async def call(self, method: str, path: str, *, params: Any = None,
                   body: Any = None) -> Any:
        """The JSON answer of ``method path`` (under /api/v1).

        Raises:
            Unreachable: no daemon answers, or the connection dropped.
            Refused: the token was refused (401, or 403 for a read-only one).
            NotFound: no such instance (a KeyError).
            VMError: the daemon's error (its class when it is one of the contract's).
        """
        timeout = aiohttp.ClientTimeout(total=READ_TIMEOUT if method == "GET" else None,
                                        sock_connect=CONNECT_TIMEOUT)
        try:
            async with self.session().request(method, API + path, params=params, json=body,
                                              timeout=timeout) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientConnectionError, OSError, TimeoutError) as exc:
            raise Unreachable(f"the daemon at {self.address} did not answer "
                              f"({describe(exc)})") from exc
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
            if status < 400:
                raise Unreachable(f"{self.address}: the answer to {method} {path} is not "
                                  f"JSON ({text[:80]!r})") from None
        if status >= 400:
            raise error_of(status, data)
        return data

    async def websocket(self) -> aiohttp.ClientWebSocketResponse:
        """The stream's WebSocket (its heartbeat notices a daemon gone silent).

        Raises:
            Unreachable: as :meth:`call`, or a 5xx answer (the daemon's stream
                limit, say): worth trying again later.
            Refused: as :meth:`call`.
        """
        try:
            return await self.session().ws_connect(API + "/stream", heartbeat=5.0,
                                                   max_msg_size=64 * 2**20)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status >= 500:  # the daemon is there but cannot take us now: try later
                raise Unreachable(f"{self.address}: the stream was refused with HTTP "
                                  f"{exc.status} ({exc.message})") from exc
            raise error_of(exc.status, {"error": {"type": "", "message": exc.message}}) \
                from exc
        except (aiohttp.ClientConnectionError, OSError, TimeoutError) as exc:
            raise Unreachable(f"{self.address}: {describe(exc)}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def describe(exc: BaseException) -> str:
    """Why a connection failed, in words (the OS's reason when there is one)."""
    cause = exc.__cause__ if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
