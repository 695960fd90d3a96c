"""The ``vm:`` section of an isolated pool: machines vmtui reaches but does not start.

Like syzkaller's ``isolated`` VM type: each entry of ``targets`` is one
machine (a board, a spare server, a VM someone else runs), reached over SSH.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from vmtui.backends.config.schema import spec

_TARGET_RE = re.compile(r"^(?:(?P<user>[^@\s:]+)@)?(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|"
                        r"(?P<host>[A-Za-z0-9._-]+))(?::(?P<port>\d+))?$")


@dataclass(frozen=True)
class Target:
    """One machine: where its SSH server is, and as whom to log in ("" = the pool's)."""

    host: str
    port: int
    user: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user + '@' if self.user else ''}{host}:{self.port}"


def parse_target(text: str) -> Target:
    """``[user@]host[:port]`` (``[v6addr]`` in brackets) as a :class:`Target`.

    Raises:
        ValueError: saying what is wrong with ``text``.
    """
    m = _TARGET_RE.match(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not user@host:port")
    port = int(m["port"] or 22)
    if not 1 <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} is not between 1 and 65535")
    return Target(m["v6"] or m["host"], port, m["user"] or "")


@dataclass(frozen=True)
class IsolatedConfig:
    """Machines vmtui reaches over SSH: one instance per target."""

    targets: list[str] = spec(help="the machines, as user@host:port (one instance each; "
                                   "the pool's count must match or is taken from here)")
    target_dir: str = spec("/tmp/vmtui", help="the folder on each machine where copies go "
                                               "(emptied at each boot)")
    target_reboot: bool = spec(False, help="reboot the machine over SSH before each boot of "
                                           "its instance, unless it rebooted by itself since")
    reboot_command: str = spec("reboot", help="the command that reboots a machine")
    startup_script: Path | None = spec(None, must_exist=True,
                                       help="a local script copied and run after each boot")
    pstore: bool = spec(False, help="after each boot read /sys/fs/pstore (what the last "
                                    "crash left), attach it to the crash's incident, clear it")

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("targets: list at least one machine")
        seen: set[Target] = set()
        for i, text in enumerate(self.targets):
            try:
                target = parse_target(text)
            except ValueError as exc:
                raise ValueError(f"targets[{i}]: {exc}") from None
            if target in seen:
                raise ValueError(f"targets[{i}]: {text!r} is listed twice")
            seen.add(target)
        if (not self.target_dir.startswith("/") or "'" in self.target_dir
                or posixpath.normpath(self.target_dir) == "/"):
            raise ValueError(f"target_dir: {self.target_dir!r} must be an absolute path "
                             "below / without quotes (it is emptied at each boot)")
        if not self.reboot_command.strip():
            raise ValueError("reboot_command: empty")

    def instance_count(self) -> int:
        """How many instances the pool has: one per target."""
        return len(self.targets)

    def target(self, index: int) -> Target:
        return parse_target(self.targets[index])
