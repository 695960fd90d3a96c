"""The contract every VM type implements: Pool, Instance, Env, errors, registry.

A VM type (``qemu``, later others) registers a Pool class and the dataclass that
validates its ``vm:`` config section. Callers never use a Pool directly: they
use :class:`vmtui.backends.fleet.fleet.Fleet`, which adds what every type needs once
(workdirs, state tracking, console buffering and logging).
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from vmtui.backends.ssh.session import GuestSession
    from vmtui.backends.vm.merger import OutputMerger
    from vmtui.backends.vm.qmp_types import (
        CPU,
        BlockDevice,
        BlockStats,
        PCIDevice,
        Status,
        Version,
        VMSnapshot,
    )


class VMError(Exception):
    """Root of the errors raised by the backend layer."""


class BootError(VMError):
    """An instance did not come up; carries the console output seen so far."""

    def __init__(self, message: str, output: bytes = b"") -> None:
        super().__init__(message)
        self.output = output


class InfraError(VMError):
    """The host side failed (missing binary, no KVM, cannot bind a port)."""

    def __init__(self, message: str, output: bytes = b"") -> None:
        super().__init__(message)
        self.output = output


class StateError(VMError):
    """An operation was asked of an instance in a state that does not allow it."""


class InstanceState(enum.Enum):
    """Where an instance is in its life."""

    OFFLINE = "offline"
    BOOTING = "booting"
    RUNNING = "running"
    CRASHED = "crashed"
    LOST = "lost"
    STOPPED = "stopped"
    PAUSED = "paused"  # vCPUs stopped (QMP stop); the process is alive
    FAILED = "failed"  # the boot did not succeed (BootError or InfraError)


# Which state may follow which; anything else is a bug in the caller.
TRANSITIONS: dict[InstanceState, frozenset[InstanceState]] = {
    InstanceState.OFFLINE: frozenset({InstanceState.BOOTING, InstanceState.STOPPED}),
    InstanceState.BOOTING: frozenset({
        InstanceState.RUNNING, InstanceState.FAILED, InstanceState.STOPPED,
        InstanceState.CRASHED, InstanceState.LOST, InstanceState.PAUSED,
    }),
    InstanceState.RUNNING: frozenset({
        InstanceState.CRASHED, InstanceState.LOST, InstanceState.STOPPED,
        InstanceState.PAUSED, InstanceState.BOOTING,  # BOOTING: after a reset
    }),
    InstanceState.PAUSED: frozenset({
        InstanceState.RUNNING, InstanceState.BOOTING, InstanceState.CRASHED,
        InstanceState.LOST, InstanceState.STOPPED,
    }),
    InstanceState.CRASHED: frozenset({
        InstanceState.BOOTING, InstanceState.LOST, InstanceState.STOPPED,
    }),
    InstanceState.LOST: frozenset({
        InstanceState.BOOTING, InstanceState.STOPPED,
        # Its host came back (libvirt) and the VM had run on meanwhile.
        InstanceState.RUNNING, InstanceState.PAUSED, InstanceState.CRASHED,
    }),
    InstanceState.FAILED: frozenset({InstanceState.BOOTING, InstanceState.STOPPED}),
    # FAILED: parked by the farm loop after too many restarts.
    InstanceState.STOPPED: frozenset({InstanceState.BOOTING, InstanceState.FAILED}),
}


@dataclass(frozen=True)
class Env:
    """What a Pool gets from the pool config, beside its own ``vm:`` section."""

    name: str
    os: str
    arch: str
    workdir: Path
    runtime_dir: Path
    ssh_key: Path | None
    ssh_user: str
    ssh_host_key: Path | None
    ssh_host_key_check: bool
    boot_timeout: float
    config: Any  # the VM type's validated config dataclass


class Instance(abc.ABC):
    """One running VM. Created (and booted) by :meth:`Pool.create`."""

    starts_paused = False  # its vCPUs wait to be resumed (shown as paused once up)

    name: str

    @abc.abstractmethod
    async def wait_exit(self) -> int:
        """Wait until the VM process ends; return its exit status."""

    @abc.abstractmethod
    def exited(self) -> bool:
        """Whether the VM process has ended."""

    def frozen(self) -> bool:
        """Whether the VM process is stopped by a signal or a debugger (SIGSTOP,
        ptrace): the guest is then silent without being hung."""
        return False

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop the VM for good and release everything it holds. Idempotent."""


class Pool(abc.ABC):
    """Creates instances of one VM type from an Env."""

    def __init__(self, env: Env) -> None:
        self.env = env

    @abc.abstractmethod
    async def create(self, name: str, workdir: Path, index: int,
                     output: OutputMerger) -> Instance:
        """Start instance ``index`` and wait until it is usable.

        The instance attaches its output streams to ``output`` before it
        boots, so the caller sees the console from the first byte.

        Raises:
            BootError: the VM did not come up within the boot timeout.
            InfraError: the host could not start it.
        """

    async def close(self) -> None:  # noqa: B027 (a hook: most types hold nothing)
        """Let go of what the pool holds beside its instances (a connection)."""

    def host(self) -> str:
        """Where the pool's VMs run when it is not this machine ("" here)."""
        return ""


# -- optional capabilities ------------------------------------------------------
# A VM type may lack any of these. Generic code asks ``isinstance(inst, Cap)``
# (or :func:`vmtui.backends.fleet.records.require`), never ``getattr``; the UI
# hides or explains what is absent.


@runtime_checkable
class ConsoleWriter(Protocol):
    """Bytes typed into the VM's console (attach mode, debugger sequences)."""

    async def write_console(self, data: bytes) -> None: ...


@runtime_checkable
class Outliving(Protocol):
    """A VM that outlives its instance (vmtui found it running, it did not start
    it): closing vmtui leaves it as it is, but a kill or restart the operator or
    the farm asks for powers it off hard first."""

    async def destroy(self) -> None: ...


@runtime_checkable
class Lifecycle(Protocol):
    """Power-down, reset, pause and resume in place."""

    async def powerdown(self, timeout: float = 30.0) -> int: ...

    async def reset(self) -> None: ...

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...

    async def wait_ready(self, timeout: float | None = None) -> float: ...


@runtime_checkable
class EventSource(Protocol):
    """A stream of the VM's events (QMP's, for QEMU).

    The subscription is async-iterable, yields objects with ``name``, ``data``
    and ``time``, and has ``close()``.
    """

    def subscribe_events(self) -> Any: ...


@runtime_checkable
class Diagnosable(Protocol):
    """Look inside a stuck guest without its help."""

    async def send_sysrq(self, letter: str) -> None: ...

    async def registers(self) -> dict[int, str]: ...

    async def inject_nmi(self) -> None: ...


class QmpView(Protocol):
    """The queries the inspector tabs show (go-qemu's Domain, read side)."""

    async def status(self) -> Status: ...

    async def version(self) -> Version: ...

    async def block_devices(self) -> list[BlockDevice]: ...

    async def block_stats(self) -> list[BlockStats]: ...

    async def pci_devices(self) -> list[PCIDevice]: ...

    async def cpus(self) -> list[CPU]: ...


@runtime_checkable
class Inspectable(Protocol):
    """QMP inspectors (Status, Block, PCI, CPUs) and facts for the Status tab."""

    @property
    def inspector(self) -> QmpView: ...

    def facts(self) -> list[tuple[str, str]]:
        """(field, value) rows about the VM process: PID, accelerator, sockets."""
        ...


@runtime_checkable
class GuestAccess(Protocol):
    """Commands, copies and forwards inside the guest (SSH)."""

    @property
    def guest(self) -> GuestSession | None: ...


@runtime_checkable
class DebugStub(Protocol):
    """A gdb stub on the VM's CPUs, opened and closed on demand."""

    async def open_debug_stub(self) -> str:
        """Open the stub; return the gdb command line that attaches to it."""
        ...

    async def close_debug_stub(self) -> None: ...


@runtime_checkable
class Snapshots(Protocol):
    """Internal VM snapshots: take, list, restore, delete (QEMU's savevm/loadvm)."""

    async def snapshots(self) -> list[VMSnapshot]: ...

    async def take_snapshot(self, tag: str) -> None: ...

    async def restore_snapshot(self, tag: str) -> None:
        """Back to ``tag``: RAM, devices and disks as they were then."""
        ...

    async def delete_snapshot(self, tag: str) -> None: ...


@runtime_checkable
class Facts(Protocol):
    """(field, value) rows about the machine for the Status tab."""

    def facts(self) -> list[tuple[str, str]]: ...


@runtime_checkable
class Leftovers(Protocol):
    """Evidence a machine kept across its reboot (pstore), read when it came up."""

    def leftovers(self) -> dict[str, bytes]:
        """File name to contents; empty when the last boot left nothing."""
        ...


@runtime_checkable
class Infoer(Protocol):
    """Facts about the VM for an incident (syzkaller's ``vmimpl.Infoer``)."""

    async def info(self) -> dict[str, str]:
        """File name to text, written into each incident folder."""
        ...


@dataclass(frozen=True)
class VMType:
    """A registered VM type: its Pool class and its config section class."""

    name: str
    pool: type[Pool]
    config: type[Any]


_REGISTRY: dict[str, VMType] = {}


def register(name: str, pool: type[Pool], config: type[Any]) -> None:
    """Make a VM type available to pool configs as ``type: NAME``."""
    if name in _REGISTRY and _REGISTRY[name].pool is not pool:
        raise ValueError(f"VM type {name!r} is registered twice")
    _REGISTRY[name] = VMType(name, pool, config)


def lookup(name: str) -> VMType:
    """The VM type registered as ``name``; KeyError if there is none."""
    return _REGISTRY[name]


def type_names() -> list[str]:
    """Names of every registered VM type."""
    return sorted(_REGISTRY)
