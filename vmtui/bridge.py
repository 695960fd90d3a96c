"""The one crossing between the Textual front and the backends.

The front (app, commands, screens, widgets, screenshot) imports nothing from
``vmtui.backends``: it talks to the :class:`Bridge` and takes the plain value
types re-exported here (``__all__``). A test holds both floors to that.

The bridge runs backend work in named workers on the app's event loop (QEMU must be
spawned from the main thread: never a thread worker), polls the fleet, and
posts what changed to the screens that subscribed: pool snapshots about twice
a second, console lines in batches every 50 ms (or as soon as the previous
batch is taken, while lines pour in), only to visible screens.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.app import App
from textual.message import Message
from textual.message_pump import MessagePump
from textual.timer import Timer

from vmtui.backends.console import path as consoles
from vmtui.backends.console.ring import SOURCE, TEXT, Line
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.fleets import Fleets
from vmtui.backends.fleet.inspection import TABS, Table, inspect
from vmtui.backends.fleet.records import LIVE, Counters, InstanceSnapshot, PoolTotals
from vmtui.backends.inert import GuestText, inert
from vmtui.backends.monitor.crashes import Crash
from vmtui.backends.monitor.evidence import Incident
from vmtui.backends.vm.diagnose import DESTRUCTIVE_SYSRQ, SYSRQ
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.state import InstanceState

# What the front may use of the backends: value types, constants, and the
# Fleet and Fleets only as types (to hand them to the app).
__all__ = [
    "ACTIONS", "DESTRUCTIVE_SYSRQ", "SOURCE", "SYSRQ", "TABS", "TEXT", "Bridge", "Counters",
    "Crash", "Fleet", "Fleets", "GuestText", "Incident", "InstanceSnapshot", "InstanceState",
    "Line", "PoolInfo", "PoolTotals", "Table", "VMError", "inert",
]


@dataclass(frozen=True)
class PoolInfo:
    """What the screens show of the pool's config."""

    name: str
    count: int
    type: str
    target: str
    os: str
    console_lines: int
    farm: bool  # a workload runs in every instance (the farm loop)
    host: str = ""  # where its VMs run when not on this machine (a libvirt host)

    @property
    def label(self) -> str:
        """The pool's name, with its host when it has one."""
        return f"{self.name}@{self.host}" if self.host else self.name


@dataclass
class _ConsoleSub:
    name: str
    cursor: int
    pending: str = ""
    inflight: bool = False  # a batch was posted and not yet acknowledged


LAG_TICK = 0.02  # seconds between event-loop lag checks
LAG_LIMIT = 0.01  # a tick this late means the UI is falling behind

# Lifecycle actions the screens offer: (fleet method, label, needs confirmation).
ACTIONS: dict[str, tuple[str, str, bool]] = {
    "powerdown": ("powerdown", "Power down", True),
    "reset": ("reset", "Reset", True),
    "pause": ("pause", "Pause", False),
    "resume": ("resume", "Resume", False),
    "kill": ("kill", "Kill", True),
    "restart": ("restart", "Restart", True),
    "boot": ("boot", "Start", False),
}


class Bridge:
    """Feeds the screens from a :class:`Fleet`, or several pools' :class:`Fleets`.

    Args:
        app: the running app (owner of timers and workers).
        fleet: the pool (or pools) to show.
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

    def __init__(self, app: App[Any], fleet: Fleet | Fleets, *, pool_interval: float = 0.5,
                 console_interval: float = 0.05) -> None:
        self.app = app
        self.fleet = fleet if isinstance(fleet, Fleets) else Fleets([fleet])
        self.pool_interval = pool_interval
        self.console_interval = console_interval
        self._pool_subs: set[MessagePump] = set()
        self._console_subs: dict[MessagePump, _ConsoleSub] = {}
        self._paused: dict[MessagePump, _ConsoleSub] = {}
        self._timers: list[Timer] = []
        self._lag_mark = time.monotonic()
        self._closed = False
        self.pools = [
            PoolInfo(f.config.pool.name, f.config.pool.count, f.config.pool.type,
                     f.config.pool.target, f.config.pool.os, f.config.pool.console_lines,
                     f.config.pool.workload is not None, f.pool.host())
            for f in self.fleet.fleets]
        self.pool = self.pools[0]  # the first (the only one, most often)
        self.farm = any(p.farm for p in self.pools)

    def start(self, boot: bool = True) -> None:
        """Start polling and, with ``boot``, boot the pool in a worker."""
        self._lag_mark = time.monotonic()
        self._timers = [
            self.app.set_interval(LAG_TICK, self._check_lag, name="lag"),
            self.app.set_interval(self.pool_interval, self.push_pool, name="pool-poll"),
            self.app.set_interval(self.console_interval, self.push_consoles,
                                  name="console-poll"),
        ]
        if boot:
            self.app.run_worker(self.fleet.start(), name="fleet-start", group="backend",
                                exit_on_error=False)

    def _check_lag(self) -> None:
        # A timer that fires late means the loop is saturated: ask the console
        # sources to back off so keys and repaints get their turn.
        now = time.monotonic()
        late = now - self._lag_mark - LAG_TICK
        self._lag_mark = now
        self.fleet.pacer.busy = late > LAG_LIMIT

    # -- subscriptions -------------------------------------------------------

    def subscribe_pool(self, target: MessagePump) -> None:
        """Send ``target`` pool snapshots, starting now."""
        self._pool_subs.add(target)
        target.post_message(self.PoolUpdated(self.fleet.snapshot()))

    def unsubscribe_pool(self, target: MessagePump) -> None:
        self._pool_subs.discard(target)

    def subscribe_console(self, target: MessagePump, name: str) -> None:
        """Send ``target`` the console of ``name``: what the ring holds, then news.

        A target that unsubscribed (its screen was hidden) resumes where it
        stopped, so it gets the lines it missed meanwhile.
        """
        sub = self._paused.pop(target, None)
        if sub is None or sub.name != name:
            sub = _ConsoleSub(name, self.fleet.console(name).first_seq)
        sub.inflight = False
        self._console_subs[target] = sub
        self._push_console(target, sub)

    def unsubscribe_console(self, target: MessagePump) -> None:
        """Stop sending to ``target`` (it keeps its place for a later subscribe)."""
        sub = self._console_subs.pop(target, None)
        if sub is not None:
            self._paused[target] = sub

    def forget(self, target: MessagePump) -> None:
        """Drop every subscription of ``target`` (its screen is gone)."""
        self._pool_subs.discard(target)
        self._console_subs.pop(target, None)
        self._paused.pop(target, None)

    # -- polling -------------------------------------------------------------

    def push_pool(self) -> None:
        if not self._pool_subs:
            return
        snapshots = self.fleet.snapshot()
        for target in self._pool_subs:
            target.post_message(self.PoolUpdated(snapshots))

    def push_consoles(self) -> None:
        for target, sub in self._console_subs.items():
            self._push_console(target, sub)

    def _push_console(self, target: MessagePump, sub: _ConsoleSub) -> None:
        if sub.inflight:
            return
        ring = self.fleet.console(sub.name)
        lines, missed = ring.since(sub.cursor)
        partial = self.fleet.console_partial(sub.name)
        pending = partial if partial != sub.pending else None
        if lines or missed or pending is not None:
            sub.cursor = ring.next_seq
            sub.pending = partial
            sub.inflight = True
            target.post_message(self.ConsoleBatch(
                sub.name, lines, missed, pending, lambda: self._acked(target, sub)))

    def _acked(self, target: MessagePump, sub: _ConsoleSub) -> None:
        sub.inflight = False
        # A flood: the lines that came while the batch was on its way go now.
        if (self._console_subs.get(target) is sub
                and self.fleet.console(sub.name).next_seq > sub.cursor):
            self._push_console(target, sub)

    # -- queries -------------------------------------------------------------

    def pool_of(self, name: str) -> PoolInfo:
        """The pool instance ``name`` belongs to."""
        pool = self.fleet.of(name).config.pool.name
        return next(p for p in self.pools if p.name == pool)

    def names(self) -> list[str]:
        """Every instance of the pool, in index order."""
        return list(self.fleet.records)

    def snapshot(self) -> list[InstanceSnapshot]:
        """Every instance as the pool table shows it, now."""
        return self.fleet.snapshot()

    def totals(self, snapshots: list[InstanceSnapshot]) -> PoolTotals:
        """The pool header's figures for ``snapshots``."""
        return self.fleet.totals(snapshots)

    def crashes(self) -> list[Crash]:
        """Every unique crash title of the pools (earlier runs too), newest first;
        a title seen in several pools is one row."""
        return self.fleet.crashes()

    def crash_log(self, crash: Crash) -> tuple[str, str]:
        """The name and text of the console log saved with ``crash``'s newest
        report (``logN`` beside ``reportN``; guest text: show it inert).

        Raises:
            OSError: there is none, or it cannot be read.
        """
        reports = sorted(crash.folder.glob("report[0-9]*"), key=lambda p: p.stat().st_mtime)
        logs = [crash.folder / f"log{r.name.removeprefix('report')}" for r in reports[-1:]]
        if not logs or not logs[0].exists():
            logs = sorted(crash.folder.glob("log[0-9]*"), key=lambda p: p.stat().st_mtime)[-1:]
        if not logs:
            raise FileNotFoundError(f"{crash.folder}: no log")
        return logs[0].name, logs[0].read_text(errors="replace")

    def crash_incident(self, crash: Crash) -> Incident | None:
        """The newest incident of this run filed under ``crash``'s title."""
        return next((i for i in reversed(self.fleet.incidents)
                     if i.kind != "diagnose" and i.complete and i.title == crash.title), None)

    def state(self, name: str) -> InstanceState:
        return self.fleet.record(name).state

    def is_up(self, name: str) -> bool:
        """Whether a VM process stands behind ``name`` (worth polling)."""
        return self.fleet.instance(name) is not None

    def incidents(self, instance: str | None = None) -> list[Incident]:
        """Incidents of the pool (or of one instance), newest first."""
        return [i for i in reversed(self.fleet.incidents) if instance in (None, i.instance)]

    def boot_output(self, name: str) -> list[str]:
        """The console tail a failed boot left (raw guest text: show it inert)."""
        raw = self.fleet.record(name).boot_output
        return raw.decode("utf-8", "replace").splitlines()

    def save_console(self, name: str, lines: Sequence[str]) -> Path:
        """Write ``lines`` into a file in the instance's workdir (VMError if not)."""
        return consoles.save_lines(self.fleet.record(name), lines)

    # -- actions -------------------------------------------------------------

    def act(self, action: str, name: str) -> None:
        """Run lifecycle ``action`` on instance ``name`` in a worker."""
        method = getattr(self.fleet, ACTIONS[action][0])
        self._work(method(name), f"{action}:{name}",
                   f"{ACTIONS[action][1]}: {name} done")

    def act_all(self, action: str) -> None:
        """``boot`` or ``kill`` every instance that is not already there."""
        for snap in self.fleet.snapshot():
            live = snap.state in LIVE
            if (action == "boot" and not live) or (action == "kill" and live):
                self.act(action, snap.name)

    def diagnose(self, name: str, action: str) -> None:
        """Run a diagnose action in a worker; its output joins the console."""
        self._work(self.fleet.diagnose(name, action), f"diagnose:{name}",
                   f"{name}: {action} done (see the console and the workdir)")

    def hold(self, name: str) -> None:
        """Pin ``name`` and open its gdb stub, or release it when held."""
        if self.fleet.record(name).held:
            self._work(self.fleet.release(name), f"release:{name}", f"{name}: released")
            return

        async def hold() -> None:
            command = await self.fleet.hold(name)
            self.app.notify(f"{name} held. Attach with:\n{command}", timeout=15)

        self._work(hold(), f"hold:{name}", None)

    def take_snapshot(self, name: str) -> str:
        """Take a VM snapshot of ``name`` in a worker; return its tag."""
        tag = time.strftime("snap-%Y%m%d-%H%M%S")
        self._work(self.fleet.vm_snapshots(name).take_snapshot(tag), f"snapshot:{name}",
                   f"{name}: snapshot {tag} taken")
        return tag

    def restore_snapshot(self, name: str, tag: str) -> None:
        self._work(self.fleet.vm_snapshots(name).restore_snapshot(tag), f"restore:{name}",
                   f"{name}: back at snapshot {tag}")

    def type_into(self, name: str, data: bytes) -> None:
        """Send keystrokes to the console of ``name``."""
        self._work(self.fleet.write_console(name, data), f"type:{name}", None)

    async def inspect(self, name: str, tab: str) -> Table:
        """The rows of an inspector tab (called from the screen's worker)."""
        return await inspect(self.fleet.record(name), tab)

    def _work(self, coro: Coroutine[Any, Any, Any], label: str, done: str | None) -> None:
        async def run() -> None:
            await coro
            if done:
                self.app.notify(done, timeout=3)

        self.app.run_worker(run(), name=label, group="actions", exit_on_error=False)

    # -- lifetime ------------------------------------------------------------

    async def close(self) -> None:
        """Stop polling and close the fleet (no VM process is left)."""
        if self._closed:
            return
        self._closed = True
        for timer in self._timers:
            timer.stop()
        self._pool_subs.clear()
        self._console_subs.clear()
        self._paused.clear()
        await self.fleet.close()
