"""Tokens over TCP on a real daemon: none, wrong, read-only (403 on every POST),
the right one; no cookie; the Origin check; the token files; stream slots."""

from __future__ import annotations

import stat
from collections.abc import Iterator

import aiohttp
import pytest

from tests.serve_daemon import Daemon, scripted_yaml
from vmtui.serve import api
from vmtui.serve.state import MAX_STREAMS, RESERVED_STREAMS

V1 = "/api/v1"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with Daemon([scripted_yaml(tmp_path_factory.mktemp("auth"))], tcp=True) as d:
        yield d


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _post_paths() -> list[str]:
    """Every POST route, its variables filled with a real instance and values."""
    fill = {"{name}": "snap-0", "{action}": "pause", "{tag}": "t"}
    paths = []
    for route in api.routes():
        if route.method == "POST":  # type: ignore[attr-defined]
            path = route.path  # type: ignore[attr-defined]
            for var, value in fill.items():
                path = path.replace(var, value)
            paths.append(path)
    return paths


def test_the_token_files_are_the_owners_only(daemon: Daemon) -> None:
    folder = daemon.workdir / ".vmtui"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("token", "token-ro"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert len(daemon.token) >= 40 and daemon.token != daemon.token_ro
    assert any(str(folder / "token") in line for line in daemon.lines)  # announced


@pytest.mark.parametrize("headers", [{}, _bearer("wrong"), _bearer(""), {"Authorization":
                         "Basic eDp5"}, {"Cookie": "vmtui_token=wrong"}])
def test_no_or_wrong_token_is_401_and_nothing_else(daemon: Daemon,
                                                   headers: dict[str, str]) -> None:
    for method, path in [("GET", f"{V1}/instances"), ("GET", "/metrics"),
                         ("POST", f"{V1}/instances/snap-0/actions/kill"),
                         ("GET", f"{V1}/nothing"), ("GET", f"{V1}/stream")]:
        status, body = daemon.request(method, path, tcp=True, headers=headers)
        assert status == 401, (method, path)
        assert body == {"error": {"type": "Unauthorized", "message":
                                  "a valid token is needed (Authorization: Bearer TOKEN)"}}
    assert daemon.get(f"{V1}/instances/snap-0")["state"] == "running"


def test_the_read_only_token_sees_all_and_changes_nothing(daemon: Daemon) -> None:
    ro = _bearer(daemon.token_ro)
    assert daemon.get(f"{V1}/version", tcp=True, headers=ro)["read_only"] is True
    assert len(daemon.get(f"{V1}/instances", tcp=True, headers=ro)) == 2
    assert "vmtui_instances" in daemon.get("/metrics", tcp=True, headers=ro)
    paths = _post_paths()
    assert len(paths) == 9
    for path in paths:
        status, body = daemon.request("POST", path, "{}", tcp=True, headers=ro)
        assert (status, body["error"]) == (403, {"type": "Forbidden",
                                                 "message": "read-only token"}), path
    assert daemon.get(f"{V1}/instances/snap-0")["state"] == "running"


def test_the_full_token_drives_and_a_cookie_is_no_token(daemon: Daemon) -> None:
    full = _bearer(daemon.token)
    assert daemon.get(f"{V1}/version", tcp=True, headers=full)["read_only"] is False
    status, _ = daemon.request("POST", f"{V1}/instances/snap-1/actions/pause", tcp=True,
                               headers=full)
    assert status == 200
    assert daemon.get(f"{V1}/instances/snap-1")["state"] == "paused"
    status, body = daemon.request("POST", f"{V1}/instances/snap-1/actions/resume", tcp=True,
                                  headers={"Cookie": f"vmtui_token={daemon.token}"})
    assert (status, body["error"]["type"]) == (401, "Unauthorized")
    assert daemon.get(f"{V1}/instances/snap-1")["state"] == "paused"
    status, _ = daemon.request("POST", f"{V1}/instances/snap-1/actions/resume", tcp=True,
                               headers=full)
    assert status == 200
    assert daemon.get(f"{V1}/instances/snap-1")["state"] == "running"


def test_a_cross_site_origin_is_refused(daemon: Daemon) -> None:
    full = _bearer(daemon.token)
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{daemon.port + 1}"):
        status, body = daemon.request("POST", f"{V1}/instances/snap-0/actions/pause",
                                      tcp=True, headers={**full, "Origin": origin})
        assert status == 403 and "cross-site" in body["error"]["message"], origin
    status, _ = daemon.request("GET", f"{V1}/version", tcp=True,
                               headers={**full, "Origin": f"http://127.0.0.1:{daemon.port}"})
    assert status == 200
    assert daemon.get(f"{V1}/instances/snap-0")["state"] == "running"


async def test_the_websocket_needs_the_token_and_a_same_site_origin(daemon: Daemon) -> None:
    url = f"http://127.0.0.1:{daemon.port}{V1}/stream"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as no_token:
            await session.ws_connect(url)
        assert no_token.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as cross:
            await session.ws_connect(url, headers={**_bearer(daemon.token),
                                                   "Origin": "https://evil.example"})
        assert cross.value.status == 403
        async with session.ws_connect(url, headers=_bearer(daemon.token_ro)) as ws:
            await ws.send_json({"op": "pool"})
            seen = set()
            while "pool" not in seen:
                seen.add((await ws.receive_json(timeout=10))["type"])
    async with aiohttp.ClientSession() as session:
        resp = await session.get(f"http://127.0.0.1:{daemon.port}{V1}/version",
                                 headers={**_bearer(daemon.token),
                                          "Origin": "http://evil.example"})
        assert "Access-Control-Allow-Origin" not in resp.headers


def test_a_token_that_is_not_ascii_is_a_wrong_token(daemon: Daemon) -> None:
    for value in ("Bearer " + daemon.token[:-1] + "\xe9", b"Bearer \xc3\xa9\xe2\x82\xac",
                  b"Bearer \xff\xfe"):
        status, body = daemon.request("GET", f"{V1}/version", tcp=True,
                                      headers={"Authorization": value})  # type: ignore[dict-item]
        assert (status, body["error"]["type"]) == (401, "Unauthorized"), value
    assert "Traceback" not in daemon.stderr


async def test_the_read_only_token_leaves_stream_slots_for_the_full_one(daemon: Daemon) -> None:
    url = f"http://127.0.0.1:{daemon.port}{V1}/stream"
    ro, full = _bearer(daemon.token_ro), _bearer(daemon.token)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        held = [await session.ws_connect(url, headers=ro)
                for _ in range(MAX_STREAMS - RESERVED_STREAMS)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url, headers=ro)
        assert refused.value.status == 503
        mine = await session.ws_connect(url, headers=full)  # a reserved slot
        assert (await mine.receive_json(timeout=10))["type"] == "changes"
        for ws in [*held, mine]:
            await ws.close()
