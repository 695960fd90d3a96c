"""One vmtui per workdir: an exclusive lock on <workdir>/.vmtui/lock, held for
the process's life (the daemon's, or the in-process app's).

Two processes driving one pool would boot each instance twice over the same
disks and sockets; the second one is refused at once, naming the workdir and
the process that holds it. The kernel drops the lock when its holder ends,
however it ends (flock on an fd that no child inherits).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from pathlib import Path


class LockError(Exception):
    """The workdir is another vmtui's, or its lock cannot be taken."""


class WorkdirLocks:
    """The locks taken; :meth:`release` drops them (the process's end does too)."""

    def __init__(self) -> None:
        self._fds: list[int] = []

    def release(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


def lock_workdirs(workdirs: list[Path], what: str) -> WorkdirLocks:
    """Lock every workdir of ``workdirs`` (``what``: this process, for the message
    another one shows).

    Raises:
        LockError: a workdir is locked by another process (the message names it
            and that process's pid), or its lock file cannot be made.
    """
    locks = WorkdirLocks()
    try:
        for workdir in dict.fromkeys(w.absolute() for w in workdirs):
            locks._fds.append(_lock(workdir, what))
    except BaseException:
        locks.release()
        raise
    return locks


def _lock(workdir: Path, what: str) -> int:
    path = workdir / ".vmtui" / "lock"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise LockError(f"cannot lock the workdir {workdir}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "pid unknown"
        os.close(fd)
        raise LockError(f"the workdir {workdir} is in use by another vmtui ({holder}); "
                        "stop it first, or reach its daemon with 'vmtui attach'") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}: {what}\n".encode(), 0)
    return fd


def this_process() -> str:
    """What this process is, for a lock's holder line: ``vmtui serve a.yaml``."""
    return " ".join(["vmtui", *sys.argv[1:4]])[:150]
