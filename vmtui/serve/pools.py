"""What ``vmtui CONFIG...`` and ``vmtui serve CONFIG...`` both do before they
run: read every config (every bad one reported, not only the first), lock the
workdirs (one vmtui per workdir), make the pools' Fleets and the Control."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vmtui.backends.config.pool import Config, load_configs
from vmtui.backends.config.schema import ConfigError
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.fleets import Fleets
from vmtui.backends.fleet.local import LocalControl
from vmtui.backends.vm.errors import VMError
from vmtui.serve.lock import LockError, WorkdirLocks, lock_workdirs, this_process

EXIT_FAILED, EXIT_CONFIG = 1, 2


class PoolsError(Exception):
    """The pools cannot run; ``status`` is the exit status (2: the configs)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def read(paths: Sequence[str | Path]) -> list[Config]:
    """Every config of ``paths``.

    Raises:
        PoolsError: every problem of every file, one line each (status 2).
    """
    try:
        return load_configs(paths)
    except ConfigError as exc:
        raise PoolsError(str(exc), EXIT_CONFIG) from None


def open_pools(configs: list[Config]) -> tuple[LocalControl, WorkdirLocks]:
    """The Control of ``configs``' pools, their workdirs locked (release the
    locks when the process is done with them).

    Raises:
        PoolsError: a workdir is another vmtui's, cannot be created, or the
            pools cannot be shown together (two of one name: status 2).
    """
    try:
        locks = lock_workdirs([c.pool.workdir for c in configs], this_process())
    except LockError as exc:
        raise PoolsError(str(exc), EXIT_FAILED) from None
    try:
        try:
            fleets = [Fleet(config) for config in configs]
        except OSError as exc:
            raise PoolsError(f"cannot create the workdir: {exc}", EXIT_FAILED) from None
        try:
            return LocalControl(fleets[0] if len(fleets) == 1 else Fleets(fleets)), locks
        except VMError as exc:
            raise PoolsError(str(exc), EXIT_CONFIG) from None
    except PoolsError:
        locks.release()
        raise
