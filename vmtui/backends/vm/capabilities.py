"""The optional capabilities of an instance, each a small Protocol.

A VM type may lack any of these. Generic code asks ``isinstance(inst, Cap)``
(or :func:`vmtui.backends.fleet.records.require`), never ``getattr``; the UI
hides or explains what is absent (syzkaller's ``vmimpl.Infoer`` is one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from vmtui.backends.vm.qmp_types import (
        CPU,
        BlockDevice,
        BlockStats,
        PCIDevice,
        Status,
        Version,
        VMSnapshot,
    )



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


@runtime_checkable
class RegisterSampler(Protocol):
    """Every vCPU's registers in one cheap call (QEMU's ``info registers -a``, about
    1 ms), for sampling where a silent guest's vCPUs are."""

    async def registers_all(self) -> str: ...


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


@dataclass(frozen=True)
class RunResult:
    """What a finished command left: exit status and its two streams."""

    status: int  # -1 when it did not exit by itself
    stdout: bytes
    stderr: bytes
    signal: str = ""  # the signal that ended it ("SEGV"), if one did

    def describe(self) -> str:
        """How it ended, for a person: "exited with status 3", "killed by signal SEGV"."""
        if self.signal:
            return f"killed by signal {self.signal}"
        return f"exited with status {self.status}"


class GuestShell(Protocol):
    """What the fleet and the farm do inside a guest: run, copy in, forward, close.

    The SSH session (:class:`vmtui.backends.ssh.session.GuestSession`) is the one
    real implementation; the contract names only this, so it needs no SSH.
    """

    async def run(self, command: str, timeout: float | None = 60.0,
                  keep: bool = True) -> RunResult:
        """Run ``command`` in the guest (``timeout`` None: as long as it runs;
        ``keep`` False: the output only joins the console stream)."""
        ...

    async def copy_in(self, local: Path, remote: str | None = None) -> str:
        """Copy a host file or folder into the guest; return its path there."""
        ...

    async def forward(self, host_port: int, host: str = "127.0.0.1") -> str:
        """Let the guest reach a host TCP service; return ``ADDRESS:PORT`` in the guest."""
        ...

    async def close(self) -> None:
        """Drop the connection and its forwards (the next call connects again)."""
        ...


@runtime_checkable
class GuestReader(Protocol):
    """A command's output read quietly: it does not join the console (a symbol
    table is megabytes nobody wants in the timeline)."""

    async def read(self, command: str, timeout: float = 30.0) -> bytes:
        """Run ``command`` in the guest; its stdout. GuestError if it fails."""
        ...


@runtime_checkable
class GuestAccess(Protocol):
    """Commands, copies and forwards inside the guest (SSH)."""

    @property
    def guest(self) -> GuestShell | None: ...


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
