"""The client's pool snapshot decoder: the values wire.from_json makes, from
real snapshots and from hostile ones, several times faster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vmtui.backends.config.pool import parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.records import InstanceSnapshot
from vmtui.backends.fleet.wire import from_json, to_json
from vmtui.backends.inert import inert
from vmtui.remote.snapshots import FAST, KEPT, _text, snapshots_of


def _wire(tmp_path: Path) -> list[dict[str, Any]]:
    fleet = Fleet(parse_config({"name": "p", "type": "scripted", "count": 3,
                                "workdir": str(tmp_path)}, file="<test>", base_dir=tmp_path))
    return json.loads(json.dumps(to_json(fleet.snapshot())))  # type: ignore[no-any-return]


def test_the_values_are_from_jsons(tmp_path: Path) -> None:
    assert FAST  # the decoder knows every field of today's snapshot
    data = _wire(tmp_path)
    data[1].update(last_line="\x1b[2Jevil\x07", title="t\x9b1m", uptime=3, hung_in=None,
                   counters={"rounds": 2, "boots": 1, "crashes": 0, "restarts": 0,
                             "booting_seconds": 1, "workload_seconds": 0.5,
                             "up_seconds": 2.0},
                   unknown_field="ignored")
    del data[2]["phase"]  # absent: the default
    ours = snapshots_of(data)
    assert ours == from_json(data, list[InstanceSnapshot])
    assert "\x1b" not in ours[1].last_line and "\x9b" not in ours[1].title  # inert
    assert type(ours[1].uptime) is float and isinstance(ours[0].workdir, Path)
    assert ours[2].phase == ""


@pytest.mark.parametrize(("field", "value"), [
    ("index", "1"), ("index", True), ("lines", 1.5), ("uptime", "3"), ("held", 1),
    ("state", "exploded"), ("name", 5), ("counters", [1]), ("lines_per_sec", None)])
def test_a_wrong_type_is_refused(tmp_path: Path, field: str, value: object) -> None:
    data = _wire(tmp_path)
    data[0][field] = value
    with pytest.raises(ValueError):
        snapshots_of(data)
    with pytest.raises(ValueError):  # as from_json
        from_json(data, list[InstanceSnapshot])


def test_not_a_list_is_refused() -> None:
    for data in ({"name": "x"}, "x", [1]):
        with pytest.raises(ValueError):
            snapshots_of(data)


def test_kept_texts_are_bounded_and_the_same_values(tmp_path: Path) -> None:
    data = _wire(tmp_path)
    for i in range(KEPT + 10):  # every message a new last line
        data[0]["last_line"] = f"line {i}\x1b[m"
        assert snapshots_of(data)[0].last_line == f"line {i}" + inert("\x1b[m")
    assert len(_text) <= KEPT
    again = snapshots_of(data)
    assert again[0].last_line is snapshots_of(data)[0].last_line  # reused, not remade
