"""Run ids and the last run on a workdir (backends/fleet/runs.py), and the words
a restart is shown in (control.run_note)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from vmtui.backends.fleet.control import PoolInfo, run_note
from vmtui.backends.fleet.records import InstanceSnapshot
from vmtui.backends.fleet.runs import RUN_FILE, new_run_id, previous_run, record_run
from vmtui.backends.inert import GuestText
from vmtui.backends.vm.state import InstanceState


def test_a_run_id_says_when_and_differs_within_a_second() -> None:
    ids = {new_run_id(1_700_000_000.0) for _ in range(20)}
    assert len(ids) > 1  # 4 random hex digits after the second
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", i) for i in ids)


def test_the_last_run_is_kept_privately_and_read_back(tmp_path: Path) -> None:
    assert previous_run(tmp_path) == ""  # none yet
    record_run(tmp_path, "20261204-183323-9f1c")
    assert previous_run(tmp_path) == "20261204-183323-9f1c"
    assert stat.S_IMODE((tmp_path / RUN_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / RUN_FILE).parent.stat().st_mode) == 0o700
    record_run(tmp_path, "20261204-190000-0001")  # replaced whole
    assert previous_run(tmp_path) == "20261204-190000-0001"


def test_a_file_that_is_not_a_run_id_is_no_run(tmp_path: Path) -> None:
    (tmp_path / RUN_FILE).parent.mkdir()
    for text in ("\x1b[31mevil\x1b[0m\n", "a" * 65, "", "\xff\xfe"):
        (tmp_path / RUN_FILE).write_bytes(text.encode("latin-1"))
        assert previous_run(tmp_path) == ""


def _snap(name: str, state: InstanceState, fresh: bool) -> InstanceSnapshot:
    return InstanceSnapshot(name, 0, state, None, 0.0, 0, GuestText(), GuestText(),
                            Path("/w"), fresh=fresh)


def test_the_note_says_what_a_restart_means() -> None:
    first = PoolInfo("p", 3, "scripted", "linux/amd64", "linux", 100, False, "", "R2", "")
    snaps = [_snap("p-0", InstanceState.RUNNING, True),
             _snap("p-1", InstanceState.RUNNING, False),
             _snap("p-2", InstanceState.OFFLINE, False)]
    assert run_note([first], snaps) == ""  # the first run on its workdir: nothing to say
    again = PoolInfo("p", 3, "scripted", "linux/amd64", "linux", 100, False, "", "R2", "R1")
    assert run_note([again], snaps) == (
        "restarted: run R2 follows run R1 · 1 of 3 booted fresh by this run, 1 already up "
        "(attached, not booted), 1 not booted yet · crashes of earlier runs kept")
