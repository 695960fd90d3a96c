"""The runtime folder of a fleet (QMP sockets, gdb stubs), and sweeping stale ones.

Each fleet keeps its sockets in a private ``vmtui-*`` folder of the system's
temporary folder (mode 0700 whatever the umask: the folder is what keeps other
local users off the QMP sockets and the gdb stubs, which read and write guest
memory), with ``owner.pid`` naming the process that made it. A vmtui
killed with SIGKILL cannot remove its folder; the next fleet to start removes
every folder whose owner is gone.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "vmtui-"
OWNER = "owner.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def sweep(root: Path | None = None) -> list[Path]:
    """Remove the runtime folders under ``root`` whose owner process is gone;
    return them. A folder without ``owner.pid`` (or not ours) is left alone."""
    root = Path(tempfile.gettempdir()) if root is None else root
    swept = []
    for folder in root.glob(f"{PREFIX}*"):
        try:
            if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
                continue
            pid = int((folder / OWNER).read_text().strip())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            log.info("removed the stale runtime folder %s (process %d is gone)", folder, pid)
            swept.append(folder)
    return swept


def make(root: Path | None = None) -> Path:
    """A new private runtime folder (mode 0700) owned by this process."""
    sweep(root)
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))  # 0700, whatever the umask
    (folder / OWNER).write_text(f"{os.getpid()}\n")
    return folder
