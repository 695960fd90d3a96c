"""The instance snapshots a pool message carries, decoded for this client.

``wire.from_json`` walks the type's annotations for every field of every
instance; a pool message comes up to twice a second with every instance (the
largest share of an idle client's work), so here each field is read by name
and checked by its type alone, into the same values ``from_json`` makes
(guest text made inert by :class:`GuestText`, the workdir a ``Path``; fields
absent take their defaults, unknown ones are ignored). The texts and paths
of one message mostly come again in the next: the values made are kept (up
to ``KEPT`` of each) and reused. A type that gained or
lost a field is decoded by ``from_json`` (slower, never wrong) until this
learns it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vmtui.backends.fleet.records import Counters, InstanceSnapshot
from vmtui.backends.fleet.wire import from_json
from vmtui.backends.inert import GuestText
from vmtui.backends.vm.state import InstanceState

KEPT = 4096  # texts and paths remembered, each


class _Kept(dict[str, Any]):
    """Values made from strings, remembered (forgotten all at once when full)."""

    def __init__(self, make: Callable[[str], Any]) -> None:
        super().__init__()
        self.make = make

    def __call__(self, value: Any) -> Any:
        made = self.get(value) if type(value) is str else None
        if made is None:
            made = self.make(value)  # GuestText takes any value, Path refuses a non-str
            if type(value) is str:
                if len(self) >= KEPT:
                    self.clear()
                self[value] = made
        return made


_text = _Kept(GuestText)
_path = _Kept(Path)


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ValueError(f"int expected, not {value!r}")
    return value


def _float(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is not int:
        raise ValueError(f"float expected, not {value!r}")
    return float(value)


def _maybe_float(value: Any) -> float | None:
    return None if value is None else _float(value)


def _str(value: Any) -> str:
    if type(value) is not str:
        raise ValueError(f"str expected, not {value!r}")
    return value


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise ValueError(f"bool expected, not {value!r}")
    return value


def _counters(value: Any) -> Counters | None:
    if value is None:
        return None
    if type(value) is not dict:
        raise ValueError(f"an object was expected for Counters, not {value!r}")
    return Counters(**{name: convert(value[name]) for name, convert in _COUNTERS
                       if name in value})


_SNAPSHOT: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("name", _str), ("index", _int), ("state", InstanceState), ("uptime", _maybe_float),
    ("lines_per_sec", _float), ("lines", _int), ("last_line", _text),
    ("error", _text), ("workdir", _path), ("title", _text), ("hung_in", _maybe_float),
    ("held", _bool), ("gdb", _str), ("fault", _text), ("boot_output", _bool),
    ("counters", _counters), ("phase", _str), ("since_boot", _maybe_float), ("pool", _str),
    ("console_bytes", _int), ("fresh", _bool))
_COUNTERS: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("rounds", _int), ("boots", _int), ("crashes", _int), ("restarts", _int),
    ("booting_seconds", _float), ("workload_seconds", _float), ("up_seconds", _float))
FAST = (tuple(f.name for f in dataclasses.fields(InstanceSnapshot))
        == tuple(name for name, _ in _SNAPSHOT)
        and tuple(f.name for f in dataclasses.fields(Counters))
        == tuple(name for name, _ in _COUNTERS))


def snapshots_of(data: Any) -> list[InstanceSnapshot]:
    """``from_json(data, list[InstanceSnapshot])``, several times faster.

    Raises:
        ValueError: ``data`` is not a list of snapshots (TypeError from a
        missing field, as from_json's).
    """
    if not FAST:
        return from_json(data, list[InstanceSnapshot])  # type: ignore[no-any-return]
    if type(data) is not list:
        raise ValueError(f"a list was expected, not {data!r}")
    return [_snapshot(item) for item in data]


def _snapshot(item: Any) -> InstanceSnapshot:
    if type(item) is not dict:
        raise ValueError(f"an object was expected for InstanceSnapshot, not {item!r}")
    return InstanceSnapshot(**{name: convert(item[name]) for name, convert in _SNAPSHOT
                               if name in item})
