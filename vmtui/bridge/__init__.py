"""The one crossing between the Textual front and the backends.

The front (app, commands, screens, widgets, screenshot) imports nothing from
``vmtui.backends``: it talks to the :class:`Bridge` and takes the plain value
types re-exported here (``__all__``). A test holds both floors to that.

The bridge runs backend work in named workers on the app's event loop (QEMU must be
spawned from the main thread: never a thread worker), polls the :class:`Control`
it is given (nothing else of the backends), and posts what changed to the
screens that subscribed: pool snapshots about twice a second, console lines in
batches every 50 ms (or as soon as the previous batch is taken, while lines pour
in), a nudge when the crash list or the incidents changed; only to visible screens.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from textual.app import App
from textual.message import Message
from textual.message_pump import MessagePump
from textual.timer import Timer

from vmtui.backends.fleet.control import (
    ACTIONS,
    DESTRUCTIVE_SYSRQ,
    LIVE,
    SOURCE,
    SYSRQ,
    TABS,
    TEXT,
    TIME,
    Action,
    ActionInfo,
    ConsoleChunk,
    Control,
    Counters,
    Crash,
    Diagnosis,
    GuestText,
    Incident,
    InstanceSnapshot,
    InstanceState,
    Line,
    PoolInfo,
    PoolTotals,
    SearchHit,
    SearchQuery,
    SearchResult,
    Table,
    VMError,
    VMSnapshot,
    inert,
    run_note,
)
from vmtui.bridge.consoles import ConsoleFeed, ConsoleNews

# What the front may use of the backends: the Control it is built from (as a
# type), and the plain value types that cross with it.
__all__ = [
    "ACTIONS", "DESTRUCTIVE_SYSRQ", "SOURCE", "SYSRQ", "TABS", "TEXT", "TIME", "Action",
    "ActionInfo", "Bridge", "ConsoleChunk", "Control", "Counters", "Crash", "Diagnosis",
    "GuestText", "HasBridge", "Incident", "InstanceSnapshot", "InstanceState", "Line",
    "PoolInfo", "PoolTotals", "SearchHit", "SearchQuery", "SearchResult", "Table", "VMError",
    "VMSnapshot", "inert", "run_note",
]


@runtime_checkable
class HasBridge(Protocol):
    """What the command palette needs of the app: its bridge (not the App class)."""

    bridge: Bridge


LAG_TICK = 0.02  # seconds between event-loop lag checks
LAG_LIMIT = 0.01  # a tick this late means the UI is falling behind

class Bridge:
    """Feeds the screens from a :class:`Control` (the pools, here or behind a socket).

    Args:
        app: the running app (owner of timers and workers).
        control: the pools to show, as plain values and calls.
        pool_interval: seconds between pool snapshots.
        console_interval: seconds between console batches.
    """

    class PoolUpdated(Message):
        """A fresh snapshot of every instance."""

        def __init__(self, snapshots: Sequence[InstanceSnapshot]) -> None:
            super().__init__()
            self.snapshots = snapshots

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, Bridge.PoolUpdated)

    class ConsoleBatch(Message):
        """New console lines of one instance, how many were missed, and the
        unfinished last line (a prompt) when it changed (else None)."""

        def __init__(self, name: str, lines: list[Line], missed: int,
                     pending: str | None = None,
                     on_ack: Callable[[], None] | None = None) -> None:
            super().__init__()
            self.name = name
            self.lines = lines
            self.missed = missed
            self.pending = pending
            self._on_ack = on_ack

        def ack(self) -> None:
            """Say the batch is taken: the bridge may send the next one.

            Until then the bridge holds back and the next batch grows, so a
            flooding guest costs the screen one batch at a time, not a queue.
            Lines that came meanwhile go at once; else the next poll sends.
            """
            if self._on_ack is not None:
                self._on_ack()

    class ListingChanged(Message):
        """The crash list or the incidents changed: read them again."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, Bridge.ListingChanged)

    def __init__(self, app: App[Any], control: Control, *, pool_interval: float = 0.5,
                 console_interval: float = 0.05) -> None:
        self.app = app
        self.control = control
        self.pool_interval = pool_interval
        self.console_interval = console_interval
        self._pool_subs: set[MessagePump] = set()
        self._listing_subs: set[MessagePump] = set()
        self._consoles = ConsoleFeed(control, self.ConsoleBatch)
        self._timers: list[Timer] = []
        self._lag_mark = time.monotonic()
        self._busy = False
        self._changes = control.changes()
        self._closed = False
        self.pools = control.pools()
        self.pool = self.pools[0]  # the first (the only one, most often)
        self.farm = any(p.farm for p in self.pools)

    def start(self, boot: bool = True) -> None:
        """Start polling and, with ``boot``, boot the pool in a worker."""
        self._lag_mark = time.monotonic()
        lag = self.app.set_interval(LAG_TICK, self._check_lag, name="lag")
        self._timers = [lag, self.app.set_interval(self.pool_interval, self.push_pool,
                                                   name="pool-poll")]
        if isinstance(self.control, ConsoleNews):
            # Its lines come with news, its busy paces only a console being
            # read (attach): no console poll, the lag check only while one is.
            self._consoles.on_reading = lambda reading: self._lag_check(lag, reading)
            self._lag_check(lag, self._consoles.reading)
        else:
            self._timers.append(self.app.set_interval(self.console_interval, self.push_consoles,
                                                      name="console-poll"))
        if boot:
            self.app.run_worker(self.control.start(), name="fleet-start", group="backend",
                                exit_on_error=False)

    def _lag_check(self, timer: Timer, on: bool) -> None:
        self._lag_mark = time.monotonic()
        if on:
            timer.resume()
            return
        timer.pause()
        if self._busy:
            self._busy = False
            self.control.set_busy(False)

    def _check_lag(self) -> None:
        # A timer that fires late means the loop is saturated: ask the console
        # sources to back off so keys and repaints get their turn.
        now = time.monotonic()
        late = now - self._lag_mark - LAG_TICK
        self._lag_mark = now
        busy = late > LAG_LIMIT
        if busy != self._busy:  # a call only when it changes (it may cross a socket)
            self._busy = busy
            self.control.set_busy(busy)

    # -- subscriptions -------------------------------------------------------

    def subscribe_pool(self, target: MessagePump) -> None:
        """Send ``target`` pool snapshots, starting now."""
        self._pool_subs.add(target)
        target.post_message(self.PoolUpdated(self.control.snapshot()))

    def unsubscribe_pool(self, target: MessagePump) -> None:
        self._pool_subs.discard(target)

    def subscribe_listing(self, target: MessagePump) -> None:
        """Tell ``target`` when the crash list or the incidents change (from now on)."""
        self._listing_subs.add(target)

    def unsubscribe_listing(self, target: MessagePump) -> None:
        self._listing_subs.discard(target)

    def subscribe_console(self, target: MessagePump, name: str) -> None:
        """Send ``target`` the console of ``name``: what the ring holds, then news
        (a target that unsubscribed resumes where it stopped)."""
        self._consoles.subscribe(target, name)

    def unsubscribe_console(self, target: MessagePump) -> None:
        """Stop sending to ``target`` (it keeps its place for a later subscribe)."""
        self._consoles.unsubscribe(target)

    def forget(self, target: MessagePump) -> None:
        """Drop every subscription of ``target`` (its screen is gone)."""
        self._pool_subs.discard(target)
        self._listing_subs.discard(target)
        self._consoles.forget(target)

    # -- polling -------------------------------------------------------------

    def push_pool(self) -> None:
        self._push_listing()
        if not self._pool_subs:
            return
        snapshots = self.control.snapshot()
        for target in self._pool_subs:
            target.post_message(self.PoolUpdated(snapshots))

    def _push_listing(self) -> None:
        changes = self.control.changes()
        if changes != self._changes:
            self._changes = changes
            for target in self._listing_subs:
                target.post_message(self.ListingChanged())

    def push_consoles(self) -> None:
        self._consoles.push_all()

    # -- queries -------------------------------------------------------------

    def pool_of(self, name: str) -> PoolInfo:
        """The pool instance ``name`` belongs to."""
        pool = self._snap(name).pool
        return next(p for p in self.pools if p.name == pool)

    def names(self) -> list[str]:
        """Every instance of the pools, in pool and index order."""
        return [s.name for s in self.control.snapshot()]

    def snapshot(self) -> list[InstanceSnapshot]:
        """Every instance as the pool table shows it, now."""
        return self.control.snapshot()

    def totals(self, snapshots: list[InstanceSnapshot]) -> PoolTotals:
        """The pool header's figures for ``snapshots``."""
        return self.control.totals(snapshots)

    def crashes(self) -> list[Crash]:
        """Every unique crash title of the pools (earlier runs too), newest first;
        a title seen in several pools is one row."""
        return self.control.crashes()

    async def crash_log(self, crash: Crash) -> tuple[str, str]:
        """The name and text of the console log saved with ``crash``'s newest
        report (guest text: show it inert; VMError if there is none)."""
        return await self.control.crash_log(crash.title)

    def crash_incident(self, crash: Crash) -> Incident | None:
        """The newest incident of this run filed under ``crash``'s title."""
        return next((i for i in self.control.incidents()
                     if i.kind != "diagnose" and i.complete and i.title == crash.title), None)

    def state(self, name: str) -> InstanceState:
        return self._snap(name).state

    def _snap(self, name: str) -> InstanceSnapshot:
        snap = next((s for s in self.control.snapshot() if s.name == name), None)
        if snap is None:
            raise KeyError(name)
        return snap

    def connection(self) -> str:
        """"" while what the bridge shows is live; else why not (a daemon gone)."""
        return self.control.connection()

    def run_note(self, snapshots: Sequence[InstanceSnapshot]) -> str:
        """What a restart means for ``snapshots`` ("" after none), from the pools
        as the Control says now: a client's daemon may have restarted meanwhile."""
        return run_note(self.control.pools(), list(snapshots))

    def running(self) -> int:
        """How many instances have a VM process (or are getting one)."""
        return sum(s.state in LIVE for s in self.control.snapshot())

    def is_up(self, name: str) -> bool:
        """Whether a VM process stands behind ``name`` (worth polling)."""
        return self.control.is_up(name)

    def incidents(self, instance: str | None = None) -> list[Incident]:
        """Incidents of the pool (or of one instance), newest first."""
        return self.control.incidents(instance)

    async def boot_output(self, name: str) -> list[str]:
        """The console tail a failed boot left (raw guest text: show it inert)."""
        return await self.control.boot_output(name)

    async def crash_report(self, title: str) -> str:
        """The newest report of crash ``title`` (guest text; VMError if unreadable)."""
        return await self.control.crash_report(title)

    async def incident_file(self, incident: Incident, file: str) -> str:
        """File ``file`` of ``incident`` (guest text; VMError if unreadable)."""
        return await self.control.incident_file(incident.folder, file)

    async def search(self, query: SearchQuery) -> SearchResult:
        """Every instance's console logs on disk, searched (VMError: a bad query)."""
        return await self.control.search(query)

    async def save_console(self, name: str, lines: Sequence[str]) -> Path:
        """Write ``lines`` into a file in the instance's workdir (VMError if not)."""
        return await self.control.save_console(name, list(lines))

    # -- actions -------------------------------------------------------------

    def act(self, action: str, name: str) -> None:
        """Run lifecycle ``action`` on instance ``name`` in a worker."""
        act = Action(action)
        self._work(self.control.act(act, name), f"{action}:{name}",
                   f"{ACTIONS[act].label}: {name} done")

    def act_all(self, action: str) -> None:
        """``boot`` or ``kill`` every instance that is not already there."""
        for snap in self.control.snapshot():
            live = snap.state in LIVE
            if (action == "boot" and not live) or (action == "kill" and live):
                self.act(action, snap.name)

    def diagnose(self, name: str, action: str) -> None:
        """Run a diagnose action in a worker; its output joins the console."""
        self._work(self.control.diagnose(name, action), f"diagnose:{name}",
                   f"{name}: {action} done (see the console and the workdir)")

    def hold(self, name: str) -> None:
        """Pin ``name`` and open its gdb stub, or release it when held."""
        if self._snap(name).held:
            self._work(self.control.release(name), f"release:{name}", f"{name}: released")
            return

        async def hold() -> None:
            command = await self.control.hold(name)
            self.app.notify(f"{name} held. Attach with:\n{command}", timeout=15)

        self._work(hold(), f"hold:{name}", None)

    def take_snapshot(self, name: str) -> str:
        """Take a VM snapshot of ``name`` in a worker; return its tag."""
        tag = time.strftime("snap-%Y%m%d-%H%M%S")
        self._work(self.control.take_snapshot(name, tag), f"snapshot:{name}",
                   f"{name}: snapshot {tag} taken")
        return tag

    def restore_snapshot(self, name: str, tag: str) -> None:
        self._work(self.control.restore_snapshot(name, tag), f"restore:{name}",
                   f"{name}: back at snapshot {tag}")

    def type_into(self, name: str, data: bytes) -> None:
        """Send keystrokes to the console of ``name``."""
        self._work(self.control.type_into(name, data), f"type:{name}", None)

    async def inspect(self, name: str, tab: str) -> Table:
        """The rows of an inspector tab (called from the screen's worker)."""
        return await self.control.inspect(name, tab)

    def _work(self, coro: Coroutine[Any, Any, Any], label: str, done: str | None) -> None:
        async def run() -> None:
            await coro
            if done:
                self.app.notify(done, timeout=3)

        self.app.run_worker(run(), name=label, group="actions", exit_on_error=False)

    # -- lifetime ------------------------------------------------------------

    async def close(self) -> None:
        """Stop polling and close the pools (no VM process is left)."""
        if self._closed:
            return
        self._closed = True
        for timer in self._timers:
            timer.stop()
        self._pool_subs.clear()
        self._listing_subs.clear()
        self._consoles.clear()
        await self.control.close()
