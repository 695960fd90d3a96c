"""The daemon's body: the app on one runner, its sites, its lifetime, signals.

Order matters: the workdirs are locked (one vmtui per pool), then the sites
are bound before any VM boots (a busy port or a live socket fails the start
with nothing to undo). On SIGTERM, SIGINT, SIGHUP or SIGQUIT the runner's
cleanup closes the streams first, then the Control (every QEMU gone, every
file flushed); an exception anywhere after the runner's setup takes the same
way out. A second signal while closing is ignored and logged: closing must
finish for no VM to be left. A SIGKILL skips all that: a local QEMU still dies
with its parent (PDEATHSIG), a libvirt domain does not (libvirtd owns it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from vmtui import __version__
from vmtui.backends.config.pool import Config
from vmtui.backends.fleet.control import Control
from vmtui.backends.fleet.runs import new_run_id
from vmtui.serve import api, pools, stream
from vmtui.serve.addresses import (
    Address,
    AddressError,
    Tokens,
    default_socket,
    free_socket_path,
    load_tokens,
    parse_address,
    private_folder,
    state_folder,
)
from vmtui.serve.guard import guard
from vmtui.serve.listing import LISTING, Listing
from vmtui.serve.metrics import METRICS_REGISTRY, metrics, registry_for
from vmtui.serve.state import ACTIONS, CONTROL, RUN, STREAMS, TOKENS, VERSION, Actions, log

EXIT_CONFIG = 2
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
MAX_BODY = 1024 * 1024  # bytes of a request body; past it: 413


class _Lifetime:
    """The Control's start (boot + farm), begun once the sites listen."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.closed = False  # the Control was closed (by the cleanup context)


LIFETIME = web.AppKey("lifetime", _Lifetime)


async def _control_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the Control is the app's; closed last, whatever happened."""
    yield
    task = app[LIFETIME].task
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    try:
        await app[ACTIONS].close()
    finally:
        app[LIFETIME].closed = True
        await app[CONTROL].close()
    log.info("every VM stopped, every file closed")


def build_app(control: Control, tokens: Tokens) -> web.Application:
    """The API's app on ``control`` (tests build it too)."""
    app = web.Application(middlewares=[guard], client_max_size=MAX_BODY)
    app[CONTROL] = control
    app[TOKENS] = tokens
    app[VERSION] = __version__
    # The Control's run (LocalControl made it as the daemon started); a new one otherwise.
    app[RUN] = next((p.run for p in control.pools() if p.run), "") or new_run_id()
    app[ACTIONS] = Actions()
    app[STREAMS] = set()
    app[LIFETIME] = _Lifetime()
    app[LISTING] = listing = Listing(control)
    app[METRICS_REGISTRY] = registry_for(control, listing.snapshots)
    app.add_routes(api.routes())
    app.add_routes([web.get("/api/v1/stream", stream.stream), web.get("/metrics", metrics)])
    app.cleanup_ctx.append(_control_context)  # first in: cleaned up last
    app.cleanup_ctx.append(stream.hub_context)
    app.on_shutdown.append(stream.close_streams)
    return app


async def _unix_site(runner: web.AppRunner, path: Path) -> web.UnixSite:
    private_folder(path.parent)
    free_socket_path(path)
    site = web.UnixSite(runner, str(path), shutdown_timeout=5.0)
    old = os.umask(0o177)  # born 0600: no moment where others could connect
    try:
        await site.start()
    finally:
        os.umask(old)
    path.chmod(0o600)
    return site


async def _serve(control: Control, addresses: list[Address], tokens: Tokens,
                 debug: bool) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("%s while stopping: ignored (stopping the VMs)",
                        signal.Signals(signum).name)
            return
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    app = build_app(control, tokens)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=5.0,
                           access_log=logging.getLogger("aiohttp.access") if debug else None)
    sockets: list[Path] = []
    try:  # from here on, whatever happens, the Control is closed on the way out
        await runner.setup()
        try:
            await _bind(runner, addresses, tokens, sockets)
        except (AddressError, OSError) as exc:
            print(f"vmtui serve: {exc}", file=sys.stderr, flush=True)
            return 1
        if stop.is_set():
            log.info("stopped before the pools started")
            return 0
        app[LIFETIME].task = loop.create_task(_start(control))
        _say("started: " + ", ".join(f"{p.name} ({p.count})" for p in control.pools())
             + "; stop with SIGTERM or Ctrl-C")
        if sockets:
            _say(f"look with: vmtui attach unix:{sockets[0]}  (or vmtui ctl "
                 f"unix:{sockets[0]} status)")
        await stop.wait()
        return 0
    finally:
        try:
            await runner.cleanup()
        finally:
            if not app[LIFETIME].closed:  # the cleanup context never ran, or failed early
                await control.close()
            _unlink(sockets)


async def _bind(runner: web.AppRunner, addresses: list[Address], tokens: Tokens,
                sockets: list[Path]) -> None:
    """Start a site on every address; each Unix socket made joins ``sockets``."""
    for address in addresses:
        if address.kind == "unix":
            assert address.path is not None
            await _unix_site(runner, address.path)
            sockets.append(address.path)
            _say(f"listening on {address}")
            continue
        before = set(map(str, runner.addresses))
        await web.TCPSite(runner, address.host, address.port, shutdown_timeout=5.0).start()
        bound = [a for a in runner.addresses if str(a) not in before]
        port = bound[0][1] if bound else address.port
        _say(f"listening on {Address('tcp', host=address.host, port=port)} "
             f"(tokens: {tokens.full_file}, read-only: {tokens.read_only_file})")
        if not address.loopback:
            print(f"vmtui serve: warning: {address} is reachable from other machines; "
                  "anyone holding the token drives the VMs, over plain HTTP "
                  "(not encrypted)", file=sys.stderr, flush=True)


async def _start(control: Control) -> None:
    try:
        await control.start()
    except Exception:  # a pool that fails to start: its instances show why
        log.exception("starting the pools")
    else:
        log.info("pools started")
    calm_collector()


def calm_collector() -> None:
    """Keep the cyclic garbage collector from stalling requests (as the app does).

    What exists once the pools started lives as long as the daemon: frozen, the
    collector stops walking it (1,000 instances' records: full collections of
    tens of milliseconds otherwise). A larger young generation lets a request's
    short-lived objects die before a collection sees them.
    """
    gc.freeze()
    gc.set_threshold(10000, 10, 100)


def _say(line: str) -> None:
    print(f"vmtui serve: {line}", flush=True)


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def serve_command(args: argparse.Namespace) -> int:
    """``vmtui serve CONFIG... [--listen ADDRESS]... [--name NAME]``."""
    logging.getLogger("vmtui.serve").setLevel(logging.DEBUG if args.debug else logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(LogLines())
    try:
        configs = pools.read(args.config)  # every bad config said, as vmtui CONFIG... does
        addresses = _addresses(configs[0], args.listen or [], args.name)
        tokens = load_tokens(state_folder(configs[0].pool.workdir))
    except pools.PoolsError as exc:
        return _fail(str(exc), exc.status)
    except AddressError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    try:  # locked before binding: a second daemon on these pools touches nothing
        control, locks = pools.open_pools(configs)
    except pools.PoolsError as exc:
        return _fail(str(exc), exc.status)
    try:
        return asyncio.run(_serve(control, addresses, tokens, debug=args.debug))
    finally:
        locks.release()


class LogLines(logging.Formatter):
    """The daemon's log as its other lines: each line ``vmtui serve: ...``
    (another module's records with its name after it), a traceback's too."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ours = record.name == log.name or record.name.startswith(f"{log.name}.")
        where = "" if ours else f"{record.name}: "
        return "\n".join(f"vmtui serve: {where}{line}" for line in text.splitlines())


def _addresses(first: Config, listen: list[str], name: str | None) -> list[Address]:
    """The addresses asked for, with the default socket unless a unix: one is given."""
    if name is not None and (not name or "/" in name or name.startswith(".")):
        raise AddressError(f"--name: {name!r} must be a plain name (no '/', not hidden)")
    found = [parse_address(text) for text in listen]
    if not any(a.kind == "unix" for a in found):
        found.insert(0, default_socket(name or first.pool.name))
    return found


def _fail(message: str, status: int = 1) -> int:
    print("".join(f"vmtui serve: {line}\n" for line in message.splitlines()), end="",
          file=sys.stderr)
    return status
