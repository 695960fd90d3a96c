"""The contract every VM type implements (syzkaller's vmimpl): errors, states, Pool/Instance/Env,
the registry, capability Protocols, the merger, tasks.

The face VM types import: ``from vmtui.backends.vm import Pool, register, BootError``.
It re-exports the contract's modules, which import nothing of one another at run
time but errors and states, so any of them may be imported first.
"""

from vmtui.backends.vm.capabilities import (
    ConsoleWriter,
    DebugStub,
    Diagnosable,
    EventSource,
    Facts,
    GuestAccess,
    GuestShell,
    Infoer,
    Inspectable,
    Leftovers,
    Lifecycle,
    Outliving,
    QmpView,
    RunResult,
    Snapshots,
)
from vmtui.backends.vm.contract import Env, Instance, Pool, VMType, lookup, register, type_names
from vmtui.backends.vm.errors import BootError, InfraError, StateError, VMError
from vmtui.backends.vm.state import LIVE, TRANSITIONS, WATCHED, InstanceState

__all__ = [
    "LIVE", "TRANSITIONS", "WATCHED", "BootError", "ConsoleWriter", "DebugStub", "Diagnosable",
    "Env", "EventSource", "Facts", "GuestAccess", "GuestShell", "Infoer", "InfraError",
    "Inspectable", "Instance", "InstanceState", "Leftovers", "Lifecycle", "Outliving", "Pool",
    "QmpView", "RunResult", "Snapshots", "StateError", "VMError", "VMType", "lookup", "register",
    "type_names",
]
