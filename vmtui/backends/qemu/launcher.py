"""Starting and stopping the QEMU process.

QEMU runs in its own process group so that closing kills it and anything it
forked. It must also die with vmtui when vmtui is killed outright (SIGKILL
runs no cleanup), so the child asks the kernel for a parent-death signal. That
signal fires when the *thread* that forked the child exits: QEMU is therefore
only ever spawned from the event loop's thread, never from a thread worker.

QEMU runs with umask 077: every socket it listens on (the QMP sockets of
``vm.qmp_sockets``, socket chardevs) and every file it creates is its owner's
alone, whatever the user's umask and wherever the path is, so no other local
user can connect to a monitor or a console.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import threading
from pathlib import Path

from vmtui.backends.vm import InfraError

_PR_SET_PDEATHSIG = 1


QEMU_UMASK = 0o077


def _child_setup(parent: int) -> None:
    os.umask(QEMU_UMASK)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The parent may have died between fork and prctl: then nobody will send
    # the signal, so go now.
    if os.getppid() != parent:
        os._exit(1)


def find_binary(name: str) -> str:
    """Resolve a QEMU binary name or path, or say which package provides it."""
    found = shutil.which(name)
    if found is None:
        hint = ""
        if Path(name).name.startswith("qemu-system-x86"):
            hint = ": install the qemu-system-x86 package"
        raise InfraError(f"{name} not found{hint}")
    return found


async def spawn(argv: list[str], cwd: Path,
                pass_fds: tuple[int, ...] = ()) -> asyncio.subprocess.Process:
    """Start ``argv`` with piped stdio, in a new process group, tied to us.

    ``pass_fds`` stay open in QEMU under the same numbers (tap devices).
    """
    if threading.current_thread() is not threading.main_thread():
        # The parent-death signal would fire when this thread ends.
        raise RuntimeError("QEMU must be spawned from the main thread's event loop")
    parent = os.getpid()
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            start_new_session=True,
            pass_fds=pass_fds,
            preexec_fn=lambda: _child_setup(parent),
        )
    except OSError as exc:
        raise InfraError(f"cannot start {argv[0]}: {exc.strerror}") from exc


async def kill(proc: asyncio.subprocess.Process) -> int:
    """Kill the process group of ``proc`` and reap it; return the exit status."""
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return await proc.wait()


def process_state(pid: int) -> str:
    """The state letter of process ``pid`` (``T``: stopped by a signal, ``t``:
    stopped by a tracer); empty when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split(maxsplit=1)[0]
