"""The facade every caller uses: a pool of instances with their state and consoles.

The Fleet adds, once for every VM type, what syzkaller's ``vm.go`` adds over
``vmimpl``: a workdir per instance, an explicit state machine, the console
kept in a bounded ring plus a complete log file on disk (``boots``), and
snapshots for the UI. It is plain asyncio and knows nothing of Textual.

Its records, clocks and state changes are kept in a :class:`Ledger`, which is
all its organs (watch, events, recycle, incidents) and the farm are handed.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

from vmtui.backends.config.pool import Config
from vmtui.backends.console import path as consoles
from vmtui.backends.console.ring import ConsoleRing
from vmtui.backends.fleet import boots, events, runtime
from vmtui.backends.fleet.farm import Farm
from vmtui.backends.fleet.ledger import Clock, Ledger
from vmtui.backends.fleet.records import InstanceRecord, InstanceSnapshot, snapshot_of
from vmtui.backends.fleet.stuck import StuckSampler
from vmtui.backends.fleet.watch import Watch
from vmtui.backends.monitor.crashes import CrashStore
from vmtui.backends.monitor.evidence import Incident
from vmtui.backends.vm import contract
from vmtui.backends.vm.capabilities import (
    EventSource,
    GuestAccess,
    GuestShell,
    Leftovers,
    Lifecycle,
    Outliving,
    Snapshots,
)
from vmtui.backends.vm.contract import Env, Instance
from vmtui.backends.vm.diagnose import Diagnosis
from vmtui.backends.vm.errors import BootError, InfraError, StateError, VMError
from vmtui.backends.vm.merger import Pacer
from vmtui.backends.vm.state import LIVE, InstanceState
from vmtui.backends.vm.tasks import Background

__all__ = ["LIVE", "Fleet", "InstanceRecord", "InstanceSnapshot"]

log = logging.getLogger(__name__)


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
        pool_cfg = config.pool
        pool_cfg.workdir.mkdir(parents=True, exist_ok=True)
        if run_name is None:
            # One folder per run, so an earlier run's logs are never overwritten.
            self.workdir = Path(tempfile.mkdtemp(
                prefix=time.strftime("run-%Y%m%d-%H%M%S-"), dir=pool_cfg.workdir))
        else:
            self.workdir = pool_cfg.workdir / run_name
            self.workdir.mkdir(exist_ok=True, mode=0o700)
        self._runtime = runtime.make()  # mode 0700; stale ones of dead vmtuis swept
        self.env = Env(
            name=pool_cfg.name, os=pool_cfg.os, arch=pool_cfg.arch, workdir=self.workdir,
            runtime_dir=self._runtime, ssh_key=pool_cfg.ssh_key, ssh_user=pool_cfg.ssh_user,
            ssh_host_key=pool_cfg.ssh_host_key,
            ssh_host_key_check=pool_cfg.ssh_host_key_check,
            boot_timeout=pool_cfg.boot_timeout, config=config.vm,
        )
        self.pool = contract.lookup(pool_cfg.type).pool(self.env)
        records: dict[str, InstanceRecord] = {}
        for index in range(pool_cfg.count):
            name = f"{pool_cfg.name}-{index}"
            records[name] = InstanceRecord(name, index, self.workdir / name,
                                           pool_cfg.console_lines, Background(name))
        self.ledger = Ledger(records, clock=clock, wallclock=wallclock)
        for rec in records.values():
            rec.tasks.on_failure = partial(self.ledger.task_failed, rec)
        self._closed = False
        # Unique crashes of the pool, in syzkaller's layout, across runs.
        self.crashes = CrashStore(pool_cfg.workdir / "crashes")
        self.watch = Watch(self.ledger, config, self.crashes)
        self.stuck = StuckSampler(self.ledger, pool_cfg, self.watch.stuck)
        self.pacer = Pacer()
        self._tasks = Background(pool_cfg.name, on_failure=self._fleet_task_failed)
        self._clock: asyncio.Task[None] | None = None
        # The farm drives this fleet (boot, restart, stop) as a client would.
        self.farm = Farm(self.ledger, self, pool_cfg.workload) if pool_cfg.workload else None
        self.started_at: float | None = None

    # -- the ledger (the organs share it; these delegates keep the facade whole) --

    @property
    def records(self) -> dict[str, InstanceRecord]:
        """Every instance's record, by name."""
        return self.ledger.records

    @property
    def clock(self) -> Clock:
        """Monotonic seconds (replaceable at construction for deterministic tests)."""
        return self.ledger.clock

    @property
    def wallclock(self) -> Clock:
        """Epoch seconds stamped on console lines."""
        return self.ledger.wallclock

    def set_state(self, rec: InstanceRecord, state: InstanceState, error: str = "") -> None:
        """Move ``rec`` to ``state`` (see :meth:`Ledger.set_state`)."""
        self.ledger.set_state(rec, state, error)

    def record(self, name: str) -> InstanceRecord:
        """The record of instance ``name``; KeyError if there is none."""
        return self.ledger.record(name)

    async def wait_state(self, name: str, *states: InstanceState,
                         timeout: float | None = None) -> InstanceState:
        """Wait until instance ``name`` is in one of ``states``."""
        return await self.ledger.wait_state(name, *states, timeout=timeout)

    def _fleet_task_failed(self, task: str, exc: BaseException) -> None:
        for rec in self.records.values():
            self.ledger.task_failed(rec, f"pool {task}", exc)

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Boot every instance concurrently; returns when all are settled.

        With a ``workload:``, each instance's farm loop boots it and goes on
        (copy, run, restart after a crash) until the fleet is closed.
        """
        if self._clock is None:
            self._clock = self._tasks.spawn(self.watch.run_clock(), "verdict-clock")
            self.started_at = self.clock()
        if self.farm is not None:
            await self.farm.start()
            return
        await asyncio.gather(*(self.boot(name) for name in self.records))

    async def boot(self, name: str) -> None:
        """Boot one instance; its failure is recorded, not raised.

        A stop or close while it boots cancels the boot and kills the VM.
        """
        rec = self.records[name]
        if self._closed:
            raise StateError("the fleet is closed")
        self._unheld(name, "start")
        rec.boot_task = rec.tasks.spawn(self._boot(rec), "boot")
        await self._settle_boot(rec)

    @staticmethod
    async def _settle_boot(rec: InstanceRecord) -> None:
        """Wait for ``rec``'s boot task; its cancellation (a stop) is no error,
        but a cancellation of the caller itself goes on up."""
        assert rec.boot_task is not None
        try:
            await rec.boot_task
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is not None and me.cancelling():
                raise

    async def _boot(self, rec: InstanceRecord) -> None:
        name = rec.name
        self.set_state(rec, InstanceState.BOOTING)
        rec.fresh_boot()
        rec.fresh = True  # this run boots it (unless it finds the machine already up)
        try:
            boot = boots.open_boot(rec, self.pacer, self.wallclock)
        except VMError as exc:
            self.set_state(rec, InstanceState.FAILED, str(exc))
            return
        rec.started_at = rec.last_output = self.clock()
        console = self.config.pool.console
        if console is not None:  # from the start: a board's serial shows its boot
            consoles.start_sources(boot, console, name, rec.index, rec.tasks,
                                   partial(self.ledger.note, rec))
        rec.tasks.spawn(consoles.consume(boot.merger, rec.ring, self.wallclock,
                                         partial(self.watch.on_lines, rec)), "console")
        try:
            rec.instance = await self.pool.create(name, rec.workdir, rec.index, boot.merger)
        except asyncio.CancelledError:
            await self._release(rec)
            raise
        except Exception as exc:
            if not isinstance(exc, (BootError, InfraError)):
                log.exception("%s: unexpected error while booting", name)
                exc = InfraError(f"{name}: unexpected error while booting: {exc!r}")
            log.info("%s: boot failed: %s", name, exc)
            rec.boot_output = exc.output
            if rec.state is InstanceState.BOOTING:
                self.set_state(rec, InstanceState.FAILED, str(exc))
            await self._release(rec)
            return
        inst = rec.instance
        rec.fresh = inst is None or not inst.attached
        if rec.state is InstanceState.BOOTING:
            self.set_state(rec, InstanceState.RUNNING)
        if inst is not None and inst.starts_paused and rec.state is InstanceState.RUNNING:
            self.set_state(rec, InstanceState.PAUSED)
        rec.tasks.spawn(self._watch_exit(rec, inst), "exit-watch")
        if self.stuck.enabled:
            rec.tasks.spawn(self.stuck.follow(rec), "stuck-vcpu")
        if console is not None and console.ssh and isinstance(inst, GuestAccess):
            consoles.start_ssh(boot, inst.guest, console, rec.replayed, rec.tasks,
                               partial(self.ledger.note, rec))
        if isinstance(inst, Leftovers) and inst.leftovers():
            rec.tasks.spawn(self.watch.attach_leftovers(rec, inst.leftovers()), "pstore")
        if isinstance(inst, EventSource):
            rec.tasks.spawn(events.follow(self.ledger, rec, inst, self.watch.on_panic_event),
                            "event-follower")

    async def _watch_exit(self, rec: InstanceRecord, inst: Instance) -> None:
        status = await inst.wait_exit()
        if rec.instance is inst and rec.state is InstanceState.LOST:
            await self._release(rec)  # its host had gone; now the VM is known gone too
            return
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

    async def _release(self, rec: InstanceRecord) -> None:
        await boots.end_boot(rec, self.clock())

    # -- operator actions ------------------------------------------------------

    async def powerdown(self, name: str, timeout: float = 30.0) -> None:
        """Press the power button; kill it if the guest is still up after ``timeout``."""
        inst: Lifecycle = self.ledger.live(name, "power down", Lifecycle)
        self.records[name].stopping = True
        await inst.powerdown(timeout)
        await self.wait_state(name, InstanceState.STOPPED, timeout=5)

    async def reset(self, name: str) -> None:
        """Hard reset: the guest reboots (state follows the RESET event)."""
        await self.ledger.live(name, "reset", Lifecycle).reset()

    def vm_snapshots(self, name: str) -> Snapshots:
        """The instance's VM snapshots: take, list, restore and delete them."""
        snaps: Snapshots = self.ledger.live(name, "use VM snapshots", Snapshots)
        return snaps

    async def pause(self, name: str) -> None:
        """Stop the vCPUs (state follows the STOP event)."""
        await self.ledger.live(name, "pause", Lifecycle).pause()

    async def resume(self, name: str) -> None:
        """Let the vCPUs run again."""
        await self.ledger.live(name, "resume", Lifecycle).resume()

    def _unheld(self, name: str, action: str) -> None:
        if self.records[name].held:
            raise StateError(f"{name}: held; release it before you {action} it")

    async def kill(self, name: str, doing: str = "kill") -> None:
        """Kill the VM process at once (its logs are kept); a VM vmtui did not
        start, which stop() leaves running, is powered off first."""
        self._unheld(name, doing)
        if isinstance(inst := self.records[name].instance, Outliving):
            self.records[name].stopping = True  # its end is asked for, not a loss
            await inst.destroy()
        await self.stop(name)

    async def restart(self, name: str) -> None:
        """Kill and boot again; the console log goes on in the same file."""
        await self.kill(name, "restart")
        await self.boot(name)

    async def diagnose(self, name: str, action: str, *, via: str = "auto",
                       pace: float | None = None) -> Diagnosis:
        """Run a diagnose action (see :meth:`Watch.diagnose`)."""
        return await self.watch.diagnose(name, action, via=via, pace=pace)

    async def hold(self, name: str) -> str:
        """Pin ``name`` and open its gdb stub; the gdb command that attaches."""
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
        self.ledger.note(rec, text)

    def guest(self, name: str) -> GuestShell:
        """The SSH session into instance ``name`` (run, copy_in, forward)."""
        return self.ledger.guest(name)

    async def stop(self, name: str) -> None:
        """Stop one instance (kill it) and keep its logs."""
        rec = self.records[name]
        rec.stopping = True
        if rec.boot_task is not None and not rec.boot_task.done():
            rec.boot_task.cancel()
            await self._settle_boot(rec)
        if rec.state is not InstanceState.STOPPED:
            self.set_state(rec, InstanceState.STOPPED)
        await self._release(rec)

    async def close(self) -> None:
        """Stop every instance and wait until no VM process is left."""
        self._closed = True
        if self.farm is not None:
            self.farm.closing = True
        await self._tasks.cancel()
        await self.watch.close()
        await asyncio.gather(*(self.stop(name) for name in self.records))
        for rec in self.records.values():
            await rec.tasks.cancel()
        await self.pool.close()
        # Sockets QEMU left (a second close finds nothing to remove).
        shutil.rmtree(self._runtime, ignore_errors=True)

    def console(self, name: str) -> ConsoleRing:
        """The console ring of instance ``name``."""
        return self.records[name].ring

    def console_partial(self, name: str) -> str:
        """The console's unfinished last line (a shell prompt), decoded."""
        return consoles.partial(self.records[name].console)

    async def write_console(self, name: str, data: bytes) -> None:
        """Type ``data`` into the console of ``name`` (see :meth:`Ledger.write_console`)."""
        await self.ledger.write_console(name, data)

    def instance(self, name: str) -> Instance | None:
        """The live instance behind ``name``, if it is up."""
        return self.records[name].instance

    def snapshot(self) -> list[InstanceSnapshot]:
        """A consistent picture of every instance, for the pool table."""
        now, pool = self.clock(), self.config.pool.name
        return [snapshot_of(rec, now, self.watch.hung_in(rec, now), pool)
                for rec in self.records.values()]
