"""The crossing: everything the front needs of the backends, as one Protocol.

:class:`Control` is what the bridge holds, and all it holds. Its calls take and
return plain value types only (dataclasses of strings, numbers, enums, paths,
lists and tuples; :class:`GuestText`), never a record, a ring, a Fleet, a live
instance or a callable, so that a Control can stand in this process
(:class:`~vmtui.backends.fleet.local.LocalControl` over the pools' Fleets) or
behind a socket (a client of a daemon) and the front cannot tell.
``vmtui.backends.fleet.wire`` turns every one of these types into JSON and back.

Two kinds of call. Queries (plain methods) answer from state at hand: in this
process the fleet, in a remote client the mirror it keeps from the daemon's
streams; they never wait. Everything that does I/O or drives a VM (actions,
diagnose, inspectors, files, typing) is a coroutine.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vmtui.backends.console.ring import SOURCE, TEXT, TIME, Line
from vmtui.backends.console.search import SearchHit, SearchQuery, SearchResult
from vmtui.backends.fleet.inspection import TABS, Table
from vmtui.backends.fleet.records import Counters, InstanceSnapshot, PoolTotals
from vmtui.backends.inert import GuestText, inert
from vmtui.backends.monitor.crashes import Crash
from vmtui.backends.monitor.evidence import Incident
from vmtui.backends.vm.diagnose import DESTRUCTIVE_SYSRQ, SYSRQ, Diagnosis
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.qmp_types import VMSnapshot
from vmtui.backends.vm.state import LIVE, InstanceState

# The value types of the crossing, for the bridge to re-export to the front.
__all__ = [
    "ACTIONS", "DESTRUCTIVE_SYSRQ", "LIVE", "SOURCE", "SYSRQ", "TABS", "TEXT", "TIME", "Action",
    "ActionInfo", "ConsoleChunk", "Control", "Counters", "Crash", "Diagnosis", "GuestText",
    "Incident", "InstanceSnapshot", "InstanceState", "Line", "PoolInfo", "PoolTotals",
    "SearchHit", "SearchQuery", "SearchResult", "Table", "VMError", "VMSnapshot", "inert",
    "run_note",
]


@dataclass(frozen=True)
class PoolInfo:
    """What the screens show of a pool's config."""

    name: str
    count: int
    type: str
    target: str
    os: str
    console_lines: int
    farm: bool  # a workload runs in every instance (the farm loop)
    host: str = ""  # where its VMs run when not on this machine (a libvirt host)
    run: str = ""  # the vmtui run driving it (runs.py: a restarted daemon is a new one)
    previous_run: str = ""  # the run before it on this workdir ("" the first)

    @property
    def label(self) -> str:
        """The pool's name, with its host when it has one."""
        return f"{self.name}@{self.host}" if self.host else self.name


def run_note(pools: list[PoolInfo], snapshots: list[InstanceSnapshot]) -> str:
    """What a restart means, in words ("" when no pool of ``pools`` follows an
    earlier run on its workdir): this run, the one before, and how many of
    ``snapshots`` this run booted fresh, found already up, or has not booted."""
    before = sorted({p.previous_run for p in pools if p.previous_run})
    if not before:
        return ""
    runs = sorted({p.run for p in pools if p.run})
    fresh = sum(s.fresh for s in snapshots)
    attached = sum(1 for s in snapshots if not s.fresh and s.state in LIVE)
    rest = len(snapshots) - fresh - attached
    parts = [f"{fresh} of {len(snapshots)} booted fresh by this run"]
    if attached:
        parts.append(f"{attached} already up (attached, not booted)")
    if rest:
        parts.append(f"{rest} not booted yet")
    return (f"restarted: run {', '.join(runs) or '?'} follows run {', '.join(before)} · "
            + ", ".join(parts) + " · crashes of earlier runs kept")


@dataclass(frozen=True)
class ConsoleChunk:
    """Console lines of one instance from a reader's cursor on.

    ``missed`` lines before them had already left the ring (they are in the log
    on disk); ``next_cursor`` is where the reader asks next; ``partial`` is the
    unfinished last line (a shell prompt), decoded.
    """

    lines: list[Line]
    missed: int
    next_cursor: int
    partial: str


class Action(enum.StrEnum):
    """The lifecycle actions the screens offer."""

    POWERDOWN = "powerdown"
    RESET = "reset"
    PAUSE = "pause"
    RESUME = "resume"
    KILL = "kill"
    RESTART = "restart"
    BOOT = "boot"


@dataclass(frozen=True)
class ActionInfo:
    """One lifecycle action as the screens show it."""

    action: Action
    label: str
    confirm: bool  # destructive: the screens ask first


ACTIONS: dict[Action, ActionInfo] = {info.action: info for info in (
    ActionInfo(Action.POWERDOWN, "Power down", True),
    ActionInfo(Action.RESET, "Reset", True),
    ActionInfo(Action.PAUSE, "Pause", False),
    ActionInfo(Action.RESUME, "Resume", False),
    ActionInfo(Action.KILL, "Kill", True),
    ActionInfo(Action.RESTART, "Restart", True),
    ActionInfo(Action.BOOT, "Start", False),
)}


class Control(Protocol):
    """Everything the front asks of the backends (see the module's docstring).

    Calls about one instance raise KeyError for a name no pool has, and
    :class:`VMError` when the instance cannot do it now (the message says why).
    """

    # -- queries: answered from state at hand, never waiting -------------------

    def pools(self) -> list[PoolInfo]:
        """Every pool shown, in the order given."""
        ...

    def snapshot(self) -> list[InstanceSnapshot]:
        """Every instance of every pool, now, in pool and index order."""
        ...

    def pool_snapshot(self, pool: str) -> list[InstanceSnapshot]:
        """The instances of pool ``pool`` (one of :meth:`pools`), now, in index order.

        Raises:
            KeyError: no pool is named ``pool``.
        """
        ...

    def totals(self, snapshots: list[InstanceSnapshot]) -> PoolTotals:
        """The pool header's figures for ``snapshots`` (summed over their pools)."""
        ...

    def is_up(self, name: str) -> bool:
        """Whether a VM process stands behind ``name`` (its inspectors answer)."""
        ...

    def console_start(self, name: str) -> int:
        """The cursor of the oldest console line ``name`` still holds."""
        ...

    def console_since(self, name: str, cursor: int) -> ConsoleChunk:
        """The console lines of ``name`` from ``cursor`` on."""
        ...

    def crashes(self) -> list[Crash]:
        """Unique crash titles of every pool (earlier runs too), newest first."""
        ...

    def incidents(self, instance: str | None = None) -> list[Incident]:
        """Incidents of every pool (or of one instance), newest first."""
        ...

    def changes(self) -> int:
        """A number that grows whenever the crash list or an incident changes
        (a new one, or one finished): the front reads the lists again then."""
        ...

    def connection(self) -> str:
        """"" while the queries answer live state; else why they do not (a
        remote client lost its daemon: they answer the last state seen, and the
        pool screen's header says so until it is back)."""
        ...

    def set_busy(self, busy: bool) -> None:
        """The front's event loop is falling behind (or caught up): console
        sources back off while it is busy, so keys and repaints get their turn."""
        ...

    # -- files and tables -----------------------------------------------------

    async def boot_output(self, name: str) -> list[str]:
        """The console tail a failed boot of ``name`` left (raw guest text)."""
        ...

    async def crash_report(self, title: str) -> str:
        """The newest report of crash ``title`` (guest text).

        Raises:
            VMError: there is none, or it cannot be read.
        """
        ...

    async def crash_log(self, title: str) -> tuple[str, str]:
        """The name and text of the console log kept with the newest report of
        crash ``title`` (guest text).

        Raises:
            VMError: there is none, or it cannot be read.
        """
        ...

    async def incident_file(self, folder: Path, file: str) -> str:
        """File ``file`` of the incident in ``folder`` (guest text).

        Raises:
            VMError: no such incident or file, or it cannot be read.
        """
        ...

    async def inspect(self, name: str, tab: str) -> Table:
        """The rows of inspector tab ``tab`` (one of :data:`TABS`) for ``name``."""
        ...

    async def save_console(self, name: str, lines: list[str]) -> Path:
        """Write ``lines`` (a console as shown) to a new file in the workdir; its path."""
        ...

    async def search(self, query: SearchQuery) -> SearchResult:
        """The lines of every instance's console logs on disk matching ``query``,
        merged by time (``console.search``).

        Raises:
            VMError: a bad query (the message names the field or the pattern).
        """
        ...

    # -- driving the VMs --------------------------------------------------------

    async def act(self, action: Action, name: str) -> None:
        """Run lifecycle ``action`` on instance ``name``."""
        ...

    async def diagnose(self, name: str, action: str) -> Diagnosis:
        """Run diagnose ``action`` (its output joins the console and an incident)."""
        ...

    async def hold(self, name: str) -> str:
        """Pin ``name`` and open its gdb stub; the gdb command that attaches."""
        ...

    async def release(self, name: str) -> None:
        """Unpin ``name`` and close its gdb stub."""
        ...

    async def vm_snapshots(self, name: str) -> list[VMSnapshot]:
        """The VM snapshots of ``name``."""
        ...

    async def take_snapshot(self, name: str, tag: str) -> None:
        """Take VM snapshot ``tag`` of ``name``."""
        ...

    async def restore_snapshot(self, name: str, tag: str) -> None:
        """Bring ``name`` back to VM snapshot ``tag``."""
        ...

    async def type_into(self, name: str, data: bytes) -> None:
        """Send keystrokes to the console of ``name``."""
        ...

    # -- lifetime -------------------------------------------------------------------

    async def start(self) -> None:
        """Boot every pool."""
        ...

    async def close(self) -> None:
        """Stop every instance and close the pools (no VM process is left)."""
        ...
