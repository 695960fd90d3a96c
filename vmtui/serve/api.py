"""The REST routes of API v1: each one Control call, its answer ``wire.to_json``.

Path parts (instance, action, tab) and query parameters are checked here, so a
name no pool has is a 404 naming it, never a KeyError deep in the backends.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from vmtui.backends.fleet.control import ACTIONS, LIVE, TABS, Action, Control, SearchQuery
from vmtui.backends.fleet.watch import check_diagnose_action
from vmtui.backends.fleet.wire import to_json
from vmtui.backends.vm.errors import VMError
from vmtui.serve.guard import READ_ONLY, bad_request, body, no_body, not_found
from vmtui.serve.listing import LISTING
from vmtui.serve.state import ACTIONS as DAEMON_ACTIONS
from vmtui.serve.state import CONTROL, RUN, VERSION, log

T = TypeVar("T")
API = "/api/v1"
MAX_TEXT = 4096  # a diagnose action, a tag, a title, a file name: short strings


def _json(value: object) -> web.Response:
    return web.json_response(to_json(value))


def _control(request: web.Request) -> Control:
    return request.app[CONTROL]


def _name(request: web.Request) -> str:
    """The instance of the path, checked against the pools."""
    name = request.match_info["name"]
    if not _known(request, name):
        raise not_found(f"no instance named {name!r}")
    return name


async def _act(request: web.Request, call: Callable[[], Awaitable[T]], *,
               changes: bool = False) -> T:
    """Run a Control coroutine as the daemon's task (see ``Actions``); one that
    ``changes`` an instance's state makes the next instance list read afresh
    (the client sees at once what it did)."""
    try:
        return await request.app[DAEMON_ACTIONS].run(_awaited(call))
    except KeyError as exc:
        # Only the path's instance gone between the check and the call is a 404;
        # any other KeyError from inside is the daemon's bug (the guard: a 500).
        name = request.match_info.get("name")
        if name is None or exc.args != (name,) or _known(request, name):
            raise
        raise not_found(f"no instance named {name!r}") from None
    finally:
        if changes:
            request.app[LISTING].stale()


def _known(request: web.Request, name: str) -> bool:
    try:
        _control(request).is_up(name)
    except KeyError:
        return False
    return True


async def _awaited(call: Callable[[], Awaitable[T]]) -> T:
    return await call()


def _query(request: web.Request, key: str, *, required: bool = True) -> str | None:
    values = request.query.getall(key, [])
    if len(values) > 1:
        raise bad_request(f"parameter {key!r} given {len(values)} times")
    if not values:
        if required:
            raise bad_request(f"parameter {key!r} is missing")
        return None
    if len(values[0]) > MAX_TEXT:
        raise bad_request(f"parameter {key!r} is longer than {MAX_TEXT} characters")
    return values[0]


def _short(value: str, field: str) -> str:
    if not value or len(value) > MAX_TEXT:
        raise bad_request(f"field {field!r} must be 1 to {MAX_TEXT} characters")
    return value


# -- queries ------------------------------------------------------------------------

async def version(request: web.Request) -> web.Response:
    return web.json_response({"api": 1, "vmtui": request.app[VERSION],
                              "run": request.app[RUN], "read_only": request[READ_ONLY]})


async def pools(request: web.Request) -> web.Response:
    return _json(_control(request).pools())


async def instances(request: web.Request) -> web.Response:
    # Encoded once for every reader, at most listing.FRESH seconds old.
    return web.Response(body=request.app[LISTING].body(), content_type="application/json")


async def instance(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    snap = next((s for s in request.app[LISTING].snapshots() if s.name == name), None)
    if snap is None:
        raise not_found(f"no instance named {name!r}")
    return _json(snap)


async def totals(request: web.Request) -> web.Response:
    snaps = request.app[LISTING].snapshots()
    wanted = request.query.getall("instance", [])
    if wanted:
        known = {s.name for s in snaps}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise not_found(f"no instance named {unknown[0]!r}")
        snaps = [s for s in snaps if s.name in wanted]
    return _json(_control(request).totals(snaps))


async def console(request: web.Request) -> web.Response:
    name = _name(request)
    cursor = _query(request, "cursor", required=False)
    if cursor is None:
        start = _control(request).console_start(name)
    elif cursor.isdigit() and len(cursor) < 20:
        start = int(cursor)
    else:
        raise bad_request(f"parameter 'cursor' must be a whole number >= 0, not {cursor!r}")
    return _json(_control(request).console_since(name, start))


async def boot_output(request: web.Request) -> web.Response:
    name = _name(request)
    return _json(await _control(request).boot_output(name))


async def inspect(request: web.Request) -> web.Response:
    name, tab = _name(request), request.match_info["tab"]
    if tab not in TABS:
        raise not_found(f"no inspector tab {tab!r} (one of {', '.join(TABS)})")
    return _json(await _act(request, lambda: _control(request).inspect(name, tab)))


async def snapshots(request: web.Request) -> web.Response:
    name = _name(request)
    return _json(await _act(request, lambda: _control(request).vm_snapshots(name)))


async def crashes(request: web.Request) -> web.Response:
    return _json(_control(request).crashes())


async def crash_report(request: web.Request) -> web.Response:
    title = _query(request, "title")
    assert title is not None
    if all(c.title != title for c in _control(request).crashes()):
        raise not_found(f"no crash titled {title!r}")
    return web.json_response({"text": await _control(request).crash_report(title)})


async def crash_log(request: web.Request) -> web.Response:
    title = _query(request, "title")
    assert title is not None
    if all(c.title != title for c in _control(request).crashes()):
        raise not_found(f"no crash titled {title!r}")
    name, text = await _control(request).crash_log(title)
    return web.json_response({"name": name, "text": text})


async def incidents(request: web.Request) -> web.Response:
    instance = _query(request, "instance", required=False)
    return _json(_control(request).incidents(instance))


async def incident_file(request: web.Request) -> web.Response:
    folder, file = _query(request, "folder"), _query(request, "file")
    assert folder is not None and file is not None
    known = {str(i.folder): i for i in _control(request).incidents()}
    if folder not in known:
        raise not_found(f"no incident in {folder!r}")
    incident = known[folder]
    # Only a file the incident lists, by a plain name, standing in its own folder
    # (the entry itself: ``crash`` is a link to crashes/<title>, and reads as one).
    if ("/" in file or "\\" in file or "\0" in file or file in ("", ".", "..")
            or file not in incident.files
            or not _within(incident.folder / file, incident.folder)):
        raise bad_request(f"parameter 'file': {file!r} is not a file of the incident")
    return web.json_response({"text": await _control(request).incident_file(incident.folder,
                                                                            file)})


def _within(path: Path, folder: Path) -> bool:
    """The entry ``path`` stands in ``folder`` (its own folder, links resolved;
    where the entry itself leads is the incident's business)."""
    try:
        return path.parent.resolve() == folder.resolve()
    except OSError:
        return False


async def search(request: web.Request) -> web.Response:
    """Every instance's console logs on disk: ``pattern``, ``since``/``until``
    (Unix seconds), ``source`` (repeated), ``limit``, ``ignore_case``."""
    pattern = _query(request, "pattern")
    assert pattern is not None
    times = {key: _number(request, key) for key in ("since", "until")}
    limit = _number(request, "limit")
    if limit is not None and not limit.is_integer():
        raise bad_request(f"parameter 'limit' must be a whole number, not {limit!r}")
    sources = tuple(_short(s, "source") for s in request.query.getall("source", []))
    query = SearchQuery(pattern, times["since"], times["until"], sources,
                        500 if limit is None else int(limit),
                        _query(request, "ignore_case", required=False) in ("1", "true"))
    try:
        return _json(await _control(request).search(query))
    except VMError as exc:  # a bad pattern or window: the request's fault
        raise bad_request(str(exc)) from None


def _number(request: web.Request, key: str) -> float | None:
    text = _query(request, key, required=False)
    try:
        value = None if text is None else float(text)
    except ValueError:
        value = math.nan
    if value is not None and not math.isfinite(value):
        raise bad_request(f"parameter {key!r} must be a number, not {text!r}")
    return value


async def changes(request: web.Request) -> web.Response:
    return web.json_response({"changes": _control(request).changes()})


# -- actions ----------------------------------------------------------------------------

def _action(request: web.Request) -> Action:
    text = request.match_info["action"]
    try:
        return Action(text)
    except ValueError:
        raise not_found(f"no action {text!r} (one of "
                        f"{', '.join(a.value for a in ACTIONS)})") from None


async def act(request: web.Request) -> web.Response:
    name, action = _name(request), _action(request)
    await no_body(request)
    await _act(request, lambda: _control(request).act(action, name), changes=True)
    return web.json_response({})


async def act_all(request: web.Request) -> web.Response:
    """Start all / stop all: every instance not there yet, as daemon tasks."""
    action = _action(request)
    if action not in (Action.BOOT, Action.KILL):
        raise bad_request(f"{action.value!r} is not for every instance (boot or kill)")
    await no_body(request)
    control = _control(request)
    names = [s.name for s in control.snapshot()
             if (s.state in LIVE) == (action is Action.KILL)]
    for name in names:
        task = asyncio.get_running_loop().create_task(
            request.app[DAEMON_ACTIONS].run(control.act(action, name)))
        task.add_done_callback(_logged(f"{action.value} {name}"))
    request.app[LISTING].stale()
    return web.json_response({"names": names})


def _logged(what: str) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s: %s", what, task.exception())
    return done


async def diagnose(request: web.Request) -> web.Response:
    name = _name(request)
    action = _short((await body(request, {"action": str}))["action"], "action")
    try:
        check_diagnose_action(action)
    except ValueError as exc:
        raise bad_request(f"field 'action': {exc}") from None
    return _json(await _act(request, lambda: _control(request).diagnose(name, action)))


async def hold(request: web.Request) -> web.Response:
    name = _name(request)
    await no_body(request)
    command = await _act(request, lambda: _control(request).hold(name), changes=True)
    return web.json_response({"command": command})


async def release(request: web.Request) -> web.Response:
    name = _name(request)
    await no_body(request)
    await _act(request, lambda: _control(request).release(name), changes=True)
    return web.json_response({})


async def take_snapshot(request: web.Request) -> web.Response:
    name = _name(request)
    tag = _short((await body(request, {"tag": str}))["tag"], "tag")
    await _act(request, lambda: _control(request).take_snapshot(name, tag))
    return web.json_response({})


async def restore_snapshot(request: web.Request) -> web.Response:
    name, tag = _name(request), _short(request.match_info["tag"], "tag")
    await no_body(request)
    await _act(request, lambda: _control(request).restore_snapshot(name, tag), changes=True)
    return web.json_response({})


async def console_input(request: web.Request) -> web.Response:
    name = _name(request)
    data = (await body(request, {"data": str}))["data"]
    try:
        raw = data.encode("latin-1")
    except UnicodeEncodeError:
        raise bad_request("field 'data' must be Latin-1 text (one character a byte)") from None
    await _act(request, lambda: _control(request).type_into(name, raw))
    return web.json_response({})


async def console_save(request: web.Request) -> web.Response:
    name = _name(request)
    lines = (await body(request, {"lines": list}))["lines"]
    path = await _act(request, lambda: _control(request).save_console(name, lines))
    return web.json_response({"path": str(path)})


def routes() -> list[web.RouteDef]:
    """Every REST route of API v1."""
    one = f"{API}/instances/{{name}}"
    return [
        web.get(f"{API}/version", version),
        web.get(f"{API}/pools", pools),
        web.get(f"{API}/instances", instances),
        web.get(one, instance),
        web.get(f"{API}/totals", totals),
        web.get(f"{one}/console", console),
        web.get(f"{one}/boot-output", boot_output),
        web.get(f"{one}/inspect/{{tab}}", inspect),
        web.get(f"{one}/snapshots", snapshots),
        web.get(f"{API}/crashes", crashes),
        web.get(f"{API}/crashes/report", crash_report),
        web.get(f"{API}/crashes/log", crash_log),
        web.get(f"{API}/incidents", incidents),
        web.get(f"{API}/incidents/file", incident_file),
        web.get(f"{API}/changes", changes),
        web.get(f"{API}/search", search),
        web.post(f"{one}/actions/{{action}}", act),
        web.post(f"{API}/actions/{{action}}", act_all),
        web.post(f"{one}/diagnose", diagnose),
        web.post(f"{one}/hold", hold),
        web.post(f"{one}/release", release),
        web.post(f"{one}/snapshots", take_snapshot),
        web.post(f"{one}/snapshots/{{tag}}/restore", restore_snapshot),
        web.post(f"{one}/console/input", console_input),
        web.post(f"{one}/console/save", console_save),
    ]
