"""Where an instance is in its life, and which state may follow which.

The fleet's ``set_state`` is the only writer of a record's state; it refuses
any move :data:`TRANSITIONS` does not list.
"""

from __future__ import annotations

import enum


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

# States in which a VM process is (or is about to be) behind the record.
LIVE = (InstanceState.BOOTING, InstanceState.RUNNING, InstanceState.PAUSED,
        InstanceState.CRASHED)
# States whose console the watch reads for crashes and silence.
WATCHED = (InstanceState.BOOTING, InstanceState.RUNNING, InstanceState.PAUSED)
