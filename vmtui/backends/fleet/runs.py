"""Runs: one vmtui process driving pools (a daemon's start, an app's) has a run id.

The id names the run to its clients (a restarted daemon is another run, so a
client knows that what it mirrored is of the past) and, written to each
pool's workdir (``<workdir>/.vmtui/run``) once the pools start, tells the next
run on that workdir which run came before it: "restarted after run X".
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

RUN_FILE = Path(".vmtui") / "run"
_ID = re.compile(r"[0-9A-Za-z-]{1,64}")


def new_run_id(now: float | None = None) -> str:
    """A run id: when it began (local time, to the second) and 4 random hex
    digits (two runs in one second differ): ``20261204-183323-9f1c``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(2)}"


def previous_run(workdir: Path) -> str:
    """The id of the last run that started pools on ``workdir``; "" when none
    did (or its file is unreadable or not an id: it is never trusted as more)."""
    try:
        text = (workdir / RUN_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return text if _ID.fullmatch(text) else ""


def record_run(workdir: Path, run: str) -> None:
    """Write ``run`` as the last run on ``workdir`` (atomically, 0600 in a 0700 folder).

    Raises:
        OSError: it cannot be written.
    """
    path = workdir / RUN_FILE
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".run.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(run + "\n")
    os.replace(tmp, path)
