"""Incident folders: what an operator needs after a crash, a verdict or a diagnose.

Each incident is a folder under ``<instance workdir>/incidents/``, named by
its time and its final title, holding the report, the console before and
after, each diagnose step's output, the registers, the VM's event log, the
QEMU version and command line, the config, and ``summary.json`` saying what
is where. A file is written only when it has something to say.
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

from vmtui.backends.console.ring import Line
from vmtui.backends.inert import GuestText

# What each file of an incident holds (summary.json repeats it for the files present).
FILES = {
    "summary.json": "this list: title, kind, time, instance, and what each file holds",
    "report.txt": "the title, its kind, and the kernel's report as syzkaller's reportN holds it",
    "console-before.txt": "the timeline up to the moment the incident began (its last 2,000 "
                          "lines, stamped; other sources tagged)",
    "console-after.txt": "the timeline from then until the evidence was complete",
    "diagnosis.txt": "each diagnose step, and the console lines it produced (cut from the "
                     "timeline between that step and the next)",
    "registers.txt": "every vCPU's registers, read while the VM was stopped",
    "events.jsonl": "the VM's events of this boot (QMP), one JSON object a line",
    "qemu.txt": "QEMU's version and its exact command line",
    "config.yaml": "the pool's config",
    "crash": "link to the crash's folder in the pool's crashes/ (syzkaller's layout)",
}
BEFORE_LINES = 2000  # console-before.txt: this many lines of the timeline


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
        path = self.folder / name
        if path.is_dir():  # the link to the crash's folder: where it leads, what it holds
            return (f"{describe(name)}\n-> {path.resolve()}\n"
                    + "".join(f"{p.name}\n" for p in sorted(path.iterdir())))
        return path.read_text(errors="replace")


def slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:100].rstrip("-") or "incident"


def _free_name(parent: Path, title: str, when: float) -> Path:
    base = parent / (time.strftime("%Y%m%d-%H%M%S", time.localtime(when)) + f"-{slug(title)}")
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def new_folder(workdir: Path, title: str, when: float) -> Path:
    folder = _free_name(workdir / "incidents", title, when)
    folder.mkdir(parents=True, mode=0o700)
    folder.parent.chmod(0o700)  # incidents/: console text and config
    return folder


def rename_folder(folder: Path, title: str, when: float) -> Path:
    """``folder`` named by ``title`` (the final one, once the report is read);
    the same folder when its name already says it."""
    if _same_title(folder.name, title, when):
        return folder
    target = _free_name(folder.parent, title, when)
    folder.rename(target)
    return target


def _same_title(name: str, title: str, when: float) -> bool:
    stem = time.strftime("%Y%m%d-%H%M%S", time.localtime(when)) + f"-{slug(title)}"
    return name == stem or (name.startswith(stem + "-") and name[len(stem) + 1:].isdigit())


def console_text(lines: Iterable[Line], stamps: bool = True) -> str:
    """Console lines as text: other sources tagged, each line stamped with its time."""
    out = []
    second, stamp = -1, ""
    for _, source, text, when in lines:
        if stamps and int(when) != second:  # a flood shares its stamps: format once
            second = int(when)
            stamp = time.strftime("%H:%M:%S ", time.localtime(when))
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
    """Write file ``name`` of an incident, unless ``text`` is empty (no empty files)."""
    if text:
        (folder / name).write_text(text)


def event_line(event: Any) -> str:
    """One QMP event as a line of events.jsonl."""
    return json.dumps({"time": event.time, "event": event.name, "data": event.data},
                      sort_keys=True) + "\n"


def write_events(folder: Path, events: Iterable[Any]) -> None:
    write(folder, "events.jsonl", "".join(event_line(e) for e in events))


def describe(name: str) -> str:
    """What file ``name`` of an incident holds."""
    if name in FILES:
        return FILES[name]
    if name.startswith("pstore-"):
        return "what the machine kept across its reboot (pstore), from the next boot"
    return "facts about the VM from its type"


def write_summary(folder: Path, incident: Incident, facts: dict[str, Any]) -> None:
    """``summary.json``: what the incident is and what each of its files holds."""
    names = sorted({p.name for p in folder.iterdir()} | {"summary.json"})
    summary = {
        "title": str(incident.title), "kind": incident.kind, "instance": incident.instance,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(incident.time)),
        "epoch": incident.time, "boot": incident.boot, **facts,
        "files": {name: describe(name) for name in names},
    }
    write(folder, "summary.json", json.dumps(summary, indent=2) + "\n")
