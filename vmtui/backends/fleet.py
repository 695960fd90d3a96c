"""The facade every caller uses: a pool of instances with their state and consoles.

The Fleet adds, once for every VM type, what syzkaller's ``vm.go`` adds over
``vmimpl``: a workdir per instance, an explicit state machine, the console
kept in a bounded ring plus a complete log file on disk, and snapshots for
the UI. It is plain asyncio and knows nothing of Textual.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

from vmtui.backends import base
from vmtui.backends.base import (
    BootError,
    Env,
    EventSource,
    InfraError,
    Instance,
    InstanceState,
    Lifecycle,
    StateError,
)
from vmtui.backends.diagnose import Diagnosis
from vmtui.backends.evidence import Incident, event_line
from vmtui.backends.guestops import GuestSession
from vmtui.backends.merger import Chunk, OutputMerger, Pacer
from vmtui.backends.ring import TEXT, ConsoleRing
from vmtui.backends.watch import Watch
from vmtui.config import Config

log = logging.getLogger(__name__)

Clock = Callable[[], float]
LIVE = (InstanceState.BOOTING, InstanceState.RUNNING, InstanceState.PAUSED,
        InstanceState.CRASHED)


@dataclass(frozen=True, slots=True)
class InstanceSnapshot:
    """What the pool table shows of one instance, at one moment."""

    name: str
    index: int
    state: InstanceState
    uptime: float | None
    lines_per_sec: float
    lines: int
    last_line: str
    error: str
    workdir: Path
    title: str = ""  # the crash or verdict title, once there is one
    hung_in: float | None = None  # seconds before a silent VM is declared hung
    held: bool = False
    gdb: str = ""  # the gdb command, while held


class _Rate:
    """Lines per second over a window of a couple of seconds."""

    def __init__(self) -> None:
        self._t0: float | None = None
        self._n0 = 0
        self.value = 0.0

    def update(self, now: float, total: int) -> float:
        if self._t0 is None:
            self._t0, self._n0 = now, total
        elif now - self._t0 >= 1.0:
            self.value = (total - self._n0) / (now - self._t0)
            self._t0, self._n0 = now, total
        return self.value


class InstanceRecord:
    """Everything the fleet tracks about one instance slot."""

    def __init__(self, name: str, index: int, workdir: Path, ring_lines: int) -> None:
        self.name = name
        self.index = index
        self.workdir = workdir
        self.state = InstanceState.OFFLINE
        self.state_changed = asyncio.Event()
        self.ring = ConsoleRing(ring_lines)
        self.instance: Instance | None = None
        self.merger: OutputMerger | None = None
        self.log_file: BinaryIO | None = None
        self.started_at: float | None = None
        self.error = ""
        self.rate = _Rate()
        self.tasks: set[asyncio.Task[None]] = set()
        self.boot_task: asyncio.Task[None] | None = None
        self.events: collections.deque[Any] = collections.deque(maxlen=1000)
        self.resume_to = InstanceState.RUNNING  # where RESUME leads back to
        self.stopping = False  # an operator asked it to stop: its exit is no loss
        self.last_output = 0.0  # fleet clock time of the last console line
        self.title = ""
        self.held = False
        self.gdb = ""

    def instance_exited(self) -> bool:
        """Whether there is no live VM process behind this record."""
        return self.instance is None or self.instance.exited()

    @property
    def console_log(self) -> Path:
        return self.workdir / "console.log"


class Fleet:
    """A pool of instances of one VM type, built from a validated :class:`Config`.

    Args:
        config: the validated config.
        clock: monotonic seconds, replaceable for deterministic tests.
        wallclock: epoch seconds stamped on console lines.
        run_name: the folder of this run under the pool workdir (default: a
            new ``run-DATE-TIME-XXXX`` folder, so no earlier log is touched).
    """

    def __init__(self, config: Config, *, clock: Clock = time.monotonic,
                 wallclock: Clock = time.time, run_name: str | None = None) -> None:
        self.config = config
        self.clock = clock
        self.wallclock = wallclock
        pool_cfg = config.pool
        pool_cfg.workdir.mkdir(parents=True, exist_ok=True)
        if run_name is None:
            # One folder per run, so an earlier run's logs are never overwritten.
            self.workdir = Path(tempfile.mkdtemp(
                prefix=time.strftime("run-%Y%m%d-%H%M%S-"), dir=pool_cfg.workdir))
        else:
            self.workdir = pool_cfg.workdir / run_name
            self.workdir.mkdir(exist_ok=True)
        self._runtime = Path(tempfile.mkdtemp(prefix="vmtui-"))  # mode 0700
        self.env = Env(
            name=pool_cfg.name, os=pool_cfg.os, arch=pool_cfg.arch, workdir=self.workdir,
            runtime_dir=self._runtime, ssh_key=pool_cfg.ssh_key, ssh_user=pool_cfg.ssh_user,
            ssh_host_key=pool_cfg.ssh_host_key,
            ssh_host_key_check=pool_cfg.ssh_host_key_check,
            boot_timeout=pool_cfg.boot_timeout, config=config.vm,
        )
        self.pool = base.lookup(pool_cfg.type).pool(self.env)
        self.records: dict[str, InstanceRecord] = {}
        for index in range(pool_cfg.count):
            name = f"{pool_cfg.name}-{index}"
            self.records[name] = InstanceRecord(
                name, index, self.workdir / name, pool_cfg.console_lines)
        self._closed = False
        self.watch = Watch(self)
        self.pacer = Pacer()
        self._clock: asyncio.Task[None] | None = None

    # -- state ---------------------------------------------------------------

    def set_state(self, rec: InstanceRecord, state: InstanceState, error: str = "") -> None:
        """Move ``rec`` to ``state`` (StateError for a move the machine forbids)."""
        if state is rec.state:
            return
        if state not in base.TRANSITIONS[rec.state]:
            raise base.StateError(f"{rec.name}: cannot go from {rec.state.value} "
                                  f"to {state.value}")
        log.debug("%s: %s -> %s", rec.name, rec.state.value, state.value)
        rec.state = state
        rec.error = error
        rec.state_changed.set()
        rec.state_changed = asyncio.Event()

    def record(self, name: str) -> InstanceRecord:
        """The record of instance ``name``; KeyError if there is none."""
        return self.records[name]

    async def wait_state(self, name: str, *states: InstanceState,
                         timeout: float | None = None) -> InstanceState:
        """Wait until instance ``name`` is in one of ``states``."""
        rec = self.records[name]

        async def wait() -> InstanceState:
            while rec.state not in states:
                await rec.state_changed.wait()
            return rec.state

        return await asyncio.wait_for(wait(), timeout)

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Boot every instance concurrently; returns when all are settled."""
        if self._clock is None:
            self._clock = asyncio.ensure_future(self.watch.run_clock())
        await asyncio.gather(*(self.boot(name) for name in self.records))

    async def boot(self, name: str) -> None:
        """Boot one instance; its failure is recorded, not raised.

        A stop or close while it boots cancels the boot and kills the VM.
        """
        rec = self.records[name]
        if self._closed:
            raise base.StateError("the fleet is closed")
        self._unheld(name, "start")
        rec.boot_task = asyncio.ensure_future(self._boot(rec))
        with contextlib.suppress(asyncio.CancelledError):
            await rec.boot_task

    async def _boot(self, rec: InstanceRecord) -> None:
        name = rec.name
        self.set_state(rec, InstanceState.BOOTING)
        rec.workdir.mkdir(parents=True, exist_ok=True)
        rec.log_file = open(rec.console_log, "ab", buffering=0)
        rec.merger = OutputMerger(tee=rec.log_file, pacer=self.pacer)
        rec.started_at = rec.last_output = self.clock()
        rec.stopping = False
        rec.title = ""
        self._spawn(rec, self._consume(rec, rec.merger))
        try:
            rec.instance = await self.pool.create(name, rec.workdir, rec.index, rec.merger)
        except asyncio.CancelledError:
            await self._release(rec)
            raise
        except Exception as exc:
            if not isinstance(exc, (BootError, InfraError)):
                log.exception("%s: unexpected error while booting", name)
                exc = InfraError(f"{name}: unexpected error while booting: {exc!r}")
            log.info("%s: boot failed: %s", name, exc)
            if rec.state is InstanceState.BOOTING:
                self.set_state(rec, InstanceState.FAILED, str(exc))
            await self._release(rec)
            return
        if rec.state is InstanceState.BOOTING:
            self.set_state(rec, InstanceState.RUNNING)
        inst = rec.instance
        self._spawn(rec, self._watch_exit(rec, inst))
        if isinstance(inst, EventSource):
            self._spawn(rec, self._follow_events(rec, inst))

    def _spawn(self, rec: InstanceRecord, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        rec.tasks.add(task)
        task.add_done_callback(rec.tasks.discard)

    async def _consume(self, rec: InstanceRecord, merger: OutputMerger) -> None:
        while (batch := await merger.get_batch()) is not None:
            now = self.wallclock()
            # Runs of lines from one source (a read error is a run of its own).
            for (source, error), run in itertools.groupby(batch, key=itemgetter(0, 2)):
                self._store(rec, source, error, list(run), now)
            await asyncio.sleep(0)  # a flood must not starve the screen

    def _store(self, rec: InstanceRecord, source: str, error: BaseException | None,
               chunks: list[Chunk], now: float) -> None:
        """Lines of one source into the ring (and console lines past the watch)."""
        if error is not None:
            rec.ring.append("vmtui", f"[vmtui] reading {source} failed: {error}", now)
            return
        # Lines hold no newline: decoding them joined is decoding each, at C speed.
        texts = b"\n".join(map(itemgetter(1), chunks)).decode("utf-8", "replace").split("\n")
        rec.ring.extend(source, texts, now)
        if source == "console":
            self.watch.on_console_lines(rec, texts)

    async def _watch_exit(self, rec: InstanceRecord, inst: Instance) -> None:
        status = await inst.wait_exit()
        if rec.instance is not inst or rec.state not in LIVE:
            return
        # A clean exit (the guest powered off) or one an operator asked for
        # is a stop; anything else, a kill or a QEMU crash, means it is lost.
        if status == 0 or rec.stopping:
            self.set_state(rec, InstanceState.STOPPED)
        else:
            self.set_state(rec, InstanceState.LOST,
                           f"the VM process exited with status {status}")
            self.watch.on_lost(rec)
        await self._release(rec)

    async def _follow_events(self, rec: InstanceRecord, inst: Instance) -> None:
        assert isinstance(inst, EventSource)
        sub = inst.subscribe_events()
        path = rec.workdir / "events.jsonl"
        try:
            async for event in sub:
                rec.events.append(event)
                with open(path, "a") as f:
                    f.write(event_line(event))
                detail = f" {json.dumps(event.data, sort_keys=True)}" if event.data else ""
                rec.ring.append("event", f"{event.name}{detail}", self.wallclock())
                if rec.instance is inst:
                    self._on_event(rec, event.name)
        finally:
            sub.close()

    def _on_event(self, rec: InstanceRecord, name: str) -> None:
        state = rec.state
        if name == "STOP" and state in (InstanceState.RUNNING, InstanceState.BOOTING):
            rec.resume_to = state
            self.set_state(rec, InstanceState.PAUSED)
        elif name == "RESUME" and state is InstanceState.PAUSED:
            self.set_state(rec, rec.resume_to)
        elif name == "RESET" and state in (InstanceState.RUNNING, InstanceState.PAUSED):
            self.set_state(rec, InstanceState.BOOTING)
            self._spawn(rec, self._wait_rebooted(rec))
        elif name == "GUEST_PANICKED":
            self.watch.on_panic_event(rec)

    async def _wait_rebooted(self, rec: InstanceRecord) -> None:
        inst = rec.instance
        if not isinstance(inst, Lifecycle):
            return
        try:
            await inst.wait_ready()
        except Exception as exc:
            if rec.instance is inst and rec.state is InstanceState.BOOTING:
                self.set_state(rec, InstanceState.FAILED, f"no SSH after reset: {exc}")
            return
        if rec.instance is inst and rec.state is InstanceState.BOOTING:
            self.set_state(rec, InstanceState.RUNNING)

    async def _release(self, rec: InstanceRecord) -> None:
        # Detach first: a restart may install new ones while this awaits.
        inst, rec.instance = rec.instance, None
        merger, rec.merger = rec.merger, None
        log_file, rec.log_file = rec.log_file, None
        if inst is not None:
            await inst.close()
        if merger is not None:
            await merger.wait_sources(timeout=2)
            await merger.close()
        if log_file is not None:
            log_file.close()

    def _lifecycle(self, name: str) -> Lifecycle:
        rec = self.records[name]
        inst = rec.instance
        if inst is None or rec.state not in LIVE:
            raise StateError(f"{name}: not running (it is {rec.state.value})")
        if not isinstance(inst, Lifecycle):
            raise StateError(f"{name}: its VM type cannot power down, reset or pause")
        return inst

    async def powerdown(self, name: str, timeout: float = 30.0) -> None:
        """Press the power button; kill it if the guest is still up after ``timeout``."""
        inst = self._lifecycle(name)
        self.records[name].stopping = True
        await inst.powerdown(timeout)
        await self.wait_state(name, InstanceState.STOPPED, timeout=5)

    async def reset(self, name: str) -> None:
        """Hard reset: the guest reboots (state follows the RESET event)."""
        await self._lifecycle(name).reset()

    async def pause(self, name: str) -> None:
        """Stop the vCPUs (state follows the STOP event)."""
        await self._lifecycle(name).pause()

    async def resume(self, name: str) -> None:
        """Let the vCPUs run again."""
        await self._lifecycle(name).resume()

    def _unheld(self, name: str, action: str) -> None:
        if self.records[name].held:
            raise StateError(f"{name}: held; release it before you {action} it")

    async def kill(self, name: str) -> None:
        """Kill the VM process at once (its logs are kept)."""
        self._unheld(name, "kill")
        await self.stop(name)

    async def restart(self, name: str) -> None:
        """Kill and boot again; the console log goes on in the same file."""
        self._unheld(name, "restart")
        await self.stop(name)
        await self.boot(name)

    async def diagnose(self, name: str, action: str, *, via: str = "keyboard",
                       pace: float | None = None) -> Diagnosis:
        """Run a diagnose action (see :meth:`Watch.diagnose`)."""
        return await self.watch.diagnose(name, action, via=via, pace=pace)

    async def hold(self, name: str) -> str:
        """Pin ``name`` and open QEMU's gdb stub; the gdb command that attaches."""
        return await self.watch.hold(name)

    async def release(self, name: str) -> None:
        """Unpin ``name`` and close its gdb stub."""
        await self.watch.release(name)

    @property
    def incidents(self) -> list[Incident]:
        """Every incident recorded so far, oldest first."""
        return self.watch.incidents

    def note(self, rec: InstanceRecord, text: str) -> None:
        """A line from vmtui itself in the timeline and the log on disk."""
        rec.ring.append("vmtui", text, self.wallclock())
        if rec.log_file is not None:
            rec.log_file.write(f"[vmtui] {text}\n".encode())

    def guest(self, name: str) -> GuestSession:
        """The SSH session into instance ``name`` (run, copy_in, forward)."""
        rec = self.records[name]
        session = getattr(rec.instance, "guest", None)
        if session is None or rec.state not in LIVE:
            raise StateError(f"{name}: no SSH session (it is {rec.state.value})")
        assert isinstance(session, GuestSession)
        return session

    async def stop(self, name: str) -> None:
        """Stop one instance (kill it) and keep its logs."""
        rec = self.records[name]
        rec.stopping = True
        if rec.boot_task is not None and not rec.boot_task.done():
            rec.boot_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rec.boot_task
        if rec.state is not InstanceState.STOPPED:
            self.set_state(rec, InstanceState.STOPPED)
        await self._release(rec)

    async def close(self) -> None:
        """Stop every instance and wait until no VM process is left."""
        self._closed = True
        if self._clock is not None:
            self._clock.cancel()
        await self.watch.close()
        await asyncio.gather(*(self.stop(name) for name in self.records))
        for rec in self.records.values():
            for task in list(rec.tasks):
                task.cancel()
            await asyncio.gather(*rec.tasks, return_exceptions=True)
        with contextlib.suppress(OSError):
            for leftover in self._runtime.iterdir():
                leftover.unlink()
            self._runtime.rmdir()

    # -- views ---------------------------------------------------------------

    def console(self, name: str) -> ConsoleRing:
        """The console ring of instance ``name``."""
        return self.records[name].ring

    def console_partial(self, name: str) -> str:
        """The console's unfinished last line (a shell prompt), decoded."""
        merger = self.records[name].merger
        return merger.partial("console").decode("utf-8", "replace") if merger else ""

    async def write_console(self, name: str, data: bytes) -> None:
        """Type ``data`` into the console of ``name`` (attach mode)."""
        inst = self.records[name].instance
        if inst is None or not isinstance(inst, base.ConsoleWriter):
            raise StateError(f"{name}: no console to type into")
        await inst.write_console(data)

    def instance(self, name: str) -> Instance | None:
        """The live instance behind ``name``, if it is up."""
        return self.records[name].instance

    def snapshot(self) -> list[InstanceSnapshot]:
        """A consistent picture of every instance, for the pool table."""
        now = self.clock()
        out = []
        for rec in self.records.values():
            live = rec.state in LIVE
            uptime = now - rec.started_at if live and rec.started_at is not None else None
            tail = rec.ring.tail(1)
            out.append(InstanceSnapshot(
                name=rec.name, index=rec.index, state=rec.state, uptime=uptime,
                lines_per_sec=rec.rate.update(now, rec.ring.next_seq),
                lines=rec.ring.next_seq, last_line=tail[0][TEXT] if tail else "",
                error=rec.error, workdir=rec.workdir, title=rec.title,
                hung_in=self.watch.hung_in(rec, now), held=rec.held, gdb=rec.gdb,
            ))
        return out
