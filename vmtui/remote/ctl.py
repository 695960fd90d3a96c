"""``vmtui ctl``: one request to a daemon, for scripts.

Plain text by default (guest text made inert), JSON with ``--json``; exit
status 0 done, 1 the daemon refused or failed it, 2 usage, address,
unreachable daemon, no answer within --timeout (60 s) or refused token
(see :data:`~vmtui.remote.args.EXIT_STATUSES`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

from vmtui.backends.fleet.control import LIVE, Action, PoolInfo, run_note
from vmtui.backends.fleet.records import InstanceSnapshot
from vmtui.backends.fleet.wire import from_json
from vmtui.backends.inert import inert
from vmtui.backends.monitor.crashes import Crash
from vmtui.backends.vm.errors import VMError
from vmtui.remote.address import Address, AddressError, is_address, read_token, resolve
from vmtui.remote.args import CTL_TIMEOUT, LIFECYCLE, ctl_options
from vmtui.remote.errors import Refused, Unreachable
from vmtui.remote.http import Api, part

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Usage(Exception):
    """The words do not make a command (the message says which part)."""


Request = Callable[[Api], Awaitable[str]]


def ctl_command(args: argparse.Namespace) -> int:
    """Run the command in ``args``; its exit status."""
    again = argparse.ArgumentParser(prog="vmtui ctl", add_help=False)
    ctl_options(again)
    again.add_argument("words", nargs="*")
    rest = again.parse_intermixed_args(args.words)  # options after the words (exit 2 if bad)
    words = list(rest.words)
    for key in ("json", "token_file", "name", "timeout"):
        setattr(args, key, getattr(rest, key) or getattr(args, key))
    try:
        if not words:
            raise Usage("no COMMAND (status, crashes, an action: see vmtui ctl --help)")
        address = resolve(words.pop(0) if is_address(words[0]) else None, args.name)
        token = read_token(args.token_file)
        request = parse(words, args.json)
    except (AddressError, Usage) as exc:
        print(f"vmtui ctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(_run(address, token, request, args.timeout or CTL_TIMEOUT))


async def _run(address: Address, token: str | None, request: Request,
               timeout: float = CTL_TIMEOUT) -> int:
    api = Api(address, token)
    try:
        async with asyncio.timeout(timeout):
            out = await request(api)
    except TimeoutError:
        print(f"vmtui ctl: {address}: no answer in {timeout:g} s (a wedged daemon? "
              "--timeout SECONDS waits longer)", file=sys.stderr)
        return EXIT_USAGE
    except (Unreachable, Refused) as exc:
        print(f"vmtui ctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (VMError, KeyError) as exc:
        print(f"vmtui ctl: {inert(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await api.close()
    if out:
        print(out)
    return EXIT_OK


def parse(words: list[str], as_json: bool) -> Request:
    """The request ``words`` (after the address) stand for.

    Raises:
        Usage: an unknown command, or the wrong number of arguments.
    """
    if not words:
        raise Usage("no COMMAND (status, crashes, an action: see vmtui ctl --help)")
    command, rest = words[0], words[1:]

    def arity(count: int, names: str) -> None:
        if len(rest) != count:
            raise Usage(f"{command} takes {names}" if count else
                        f"{command} takes no argument (got {' '.join(rest)!r})")

    if command == "status":
        arity(0, "")
        return lambda api: _status(api, as_json)
    if command == "crashes":
        arity(0, "")
        return lambda api: _crashes(api, as_json)
    if command in LIFECYCLE:
        arity(1, "NAME")
        action = Action.BOOT if command == "start" else Action(command)
        return lambda api: _post(api, f"/instances/{part(rest[0])}/actions/{action.value}",
                                 None, f"{rest[0]}: {command} done")
    if command in ("start-all", "stop-all"):
        arity(0, "")
        return lambda api: _all(api, Action.BOOT if command == "start-all" else Action.KILL)
    if command == "diagnose":
        arity(2, "NAME ACTION")
        return lambda api: _diagnose(api, rest[0], rest[1])
    if command == "hold":
        arity(1, "NAME")
        return lambda api: _hold(api, rest[0])
    if command == "release":
        arity(1, "NAME")
        return lambda api: _post(api, f"/instances/{part(rest[0])}/release", None,
                                 f"{rest[0]}: released")
    raise Usage(f"{command!r} is not a command (status, crashes, "
                f"{', '.join(LIFECYCLE)}, diagnose, hold, release, start-all, stop-all)")


async def _post(api: Api, path: str, body: object, done: str) -> str:
    await api.call("POST", path, body=body)
    return inert(done)


async def _all(api: Api, action: Action) -> str:
    data = await api.call("POST", f"/actions/{action.value}")
    names = from_json(data["names"], list[str])
    verb = "started" if action is Action.BOOT else "stopped"
    return inert(f"{verb}: {' '.join(names)}" if names else f"nothing to be {verb}")


async def _diagnose(api: Api, name: str, action: str) -> str:
    data = await api.call("POST", f"/instances/{part(name)}/diagnose", body={"action": action})
    sections = data.get("sections", {}) if isinstance(data, dict) else {}
    lines = [f"{name}: {action} done (its output is in the console and an incident)"]
    lines += [f"  {title}: {body.strip().splitlines()[0] if body.strip() else ''}"
              for title, body in sections.items()]
    return "\n".join(inert(line) for line in lines)


async def _hold(api: Api, name: str) -> str:
    data = await api.call("POST", f"/instances/{part(name)}/hold")
    return inert(f"{name} held; attach with: {data['command']}")


async def _status(api: Api, as_json: bool) -> str:
    data = await api.call("GET", "/instances")
    if as_json:
        return json.dumps(data, indent=2)
    snaps = from_json(data, list[InstanceSnapshot])
    pools = from_json(await api.call("GET", "/pools"), list[PoolInfo])
    rows = [("NAME", "POOL", "STATE", "UPTIME", "LINES", "BOOT", "TITLE / ERROR")]
    rows += [(s.name, s.pool, s.state.value, duration(s.uptime), str(s.lines), boot_of(s),
              s.title or s.error or s.phase) for s in snaps]
    note = run_note(pools, snaps)  # after a restart: which instances this run booted
    return table(rows) + (f"\n\n{inert(note)}" if note else "")


def boot_of(snap: InstanceSnapshot) -> str:
    """The BOOT column: ``fresh`` (this daemon run booted its VM), ``attached``
    (its VM was up before this run), ``-`` (not booted by this run)."""
    return "fresh" if snap.fresh else "attached" if snap.state in LIVE else "-"


async def _crashes(api: Api, as_json: bool) -> str:
    data = await api.call("GET", "/crashes")
    if as_json:
        return json.dumps(data, indent=2)
    crashes = from_json(data, list[Crash])
    if not crashes:
        return "no crashes"
    rows = [("COUNT", "LAST SEEN", "INSTANCES", "TITLE")]
    rows += [(str(c.count), time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(c.last)),
              ",".join(c.instances[-3:]), c.title) for c in crashes]
    return table(rows)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def table(rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell (the last one left ragged), inert."""
    cells = [[inert(str(c)) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]) - 1)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)),
                                row[-1]]).rstrip() for row in cells)

