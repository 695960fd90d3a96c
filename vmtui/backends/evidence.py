"""Incident folders: what an operator needs after a crash, a verdict or a diagnose.

Each incident is a folder under ``<instance workdir>/incidents/`` holding the
console before and after, the diagnosis output, the registers, the QMP event
log, the QEMU version and command line, and the config.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vmtui.backends.inert import GuestText
from vmtui.backends.ring import Line

FILES = ("report.txt", "console-before.txt", "console-after.txt", "registers.txt",
         "diagnosis.txt", "events.jsonl", "qemu.txt", "config.yaml")


@dataclass
class Incident:
    """One incident: where it is and what it was."""

    instance: str
    kind: str  # crash, verdict, diagnose
    title: GuestText
    time: float
    folder: Path
    complete: bool = False
    files: list[str] = field(default_factory=list)
    boot: int = 0  # the instance's boot it happened in (its boots count then)
    error: str = ""  # why the folder could not be written, if it could not

    @property
    def status(self) -> str:
        """"complete", "writing" or "failed: why"."""
        if self.error:
            return f"failed: {self.error}"
        return "complete" if self.complete else "writing"

    def read(self, name: str) -> str:
        """The text of file ``name`` of this incident (guest text: show it inert).

        Raises:
            OSError: the file cannot be read.
        """
        if name not in self.files:
            raise FileNotFoundError(f"{name} is not a file of this incident")
        return (self.folder / name).read_text(errors="replace")


def slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:60] or "incident"


def new_folder(workdir: Path, title: str, when: float) -> Path:
    base = workdir / "incidents" / (time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
                                    + f"-{slug(title)}")
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    folder.mkdir(parents=True, mode=0o700)
    folder.parent.chmod(0o700)  # incidents/: console text and config
    return folder


def console_text(lines: Iterable[Line], stamps: bool = True) -> str:
    """Console lines as text: other sources tagged, each line stamped with its time."""
    out = []
    for _, source, text, when in lines:
        stamp = time.strftime("%H:%M:%S ", time.localtime(when)) if stamps else ""
        tag = "" if source == "console" else f"[{source}] "
        out.append(f"{stamp}{tag}{text}\n")
    return "".join(out)


def config_yaml(config: Any) -> str:
    """The pool config as YAML (paths as strings)."""
    def plain(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, (list, tuple)):
            return [plain(v) for v in obj]
        if isinstance(obj, dict):
            return {str(k): plain(v) for k, v in obj.items()}
        if type(obj) in (str, int, float, bool) or obj is None:
            return obj
        return str(obj)  # paths, sizes ("256M"), enums

    return yaml.safe_dump({"pool": plain(config.pool), "vm": plain(config.vm)},
                          sort_keys=False)


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)


def event_line(event: Any) -> str:
    """One QMP event as a line of events.jsonl."""
    return json.dumps({"time": event.time, "event": event.name, "data": event.data},
                      sort_keys=True) + "\n"


def write_events(folder: Path, events: Iterable[Any]) -> None:
    with open(folder / "events.jsonl", "w") as out:
        out.writelines(event_line(e) for e in events)
