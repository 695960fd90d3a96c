"""The contract every VM type implements: Env, Instance, Pool, and the registry.

A VM type (``qemu``, ``libvirt``, …) registers a Pool class and the dataclass
that validates its ``vm:`` config section. Callers never use a Pool directly:
they use :class:`vmtui.backends.fleet.fleet.Fleet`, which adds what every type
needs once (workdirs, state tracking, console buffering and logging).

The built-in types are found by name (:data:`BUILTIN`) and imported on their
first :func:`lookup`: no module imports every type up front, so reading a
console ring or a config loads only the types it names.
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vmtui.backends.vm.merger import OutputMerger


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
    # The machine was already up when this boot began (a libvirt domain left
    # running, an isolated machine not rebooted): this vmtui run did not boot it.
    attached = False

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


@dataclass(frozen=True)
class VMType:
    """A registered VM type: its Pool class and its config section class."""

    name: str
    pool: type[Pool]
    config: type[Any]


_REGISTRY: dict[str, VMType] = {}

# The built-in VM types, by the module whose import registers them. The one
# dynamic import of the contract: it names modules, never imports them up front.
BUILTIN: dict[str, str] = {
    "qemu": "vmtui.backends.qemu",
    "libvirt": "vmtui.backends.libvirt",
    "isolated": "vmtui.backends.isolated",
    "scripted": "vmtui.backends.scripted",
}


def register(name: str, pool: type[Pool], config: type[Any]) -> None:
    """Make a VM type available to pool configs as ``type: NAME``."""
    if name in _REGISTRY and _REGISTRY[name].pool is not pool:
        raise ValueError(f"VM type {name!r} is registered twice")
    _REGISTRY[name] = VMType(name, pool, config)


def lookup(name: str) -> VMType:
    """The VM type registered as ``name``, importing a built-in one on first use;
    KeyError if there is none."""
    if name not in _REGISTRY and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
    return _REGISTRY[name]


def type_names() -> list[str]:
    """Names of every VM type: the built-in ones (imported or not) and any
    other registered."""
    return sorted(_REGISTRY.keys() | BUILTIN.keys())
