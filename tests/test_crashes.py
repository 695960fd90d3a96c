"""The crashes/ store: syzkaller's layout, the oldest pair replaced first, reloaded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from vmtui.backends.monitor.crashes import CrashStore


def test_one_folder_per_title_with_numbered_pairs(tmp_path: Path) -> None:
    store = CrashStore(tmp_path / "crashes", max_logs=3)
    for i, (who, title) in enumerate([("a-0", "WARNING in foo"), ("a-1", "WARNING in foo"),
                                      ("a-1", "KASAN: use-after-free Read in bar")]):
        store.add(who, title, f"log {i}\n".encode(), f"report {i}\n", when=1000.0 + i)
    foo = tmp_path / "crashes" / hashlib.sha1(b"WARNING in foo").hexdigest()
    assert sorted(p.name for p in foo.iterdir()) == ["description", "log0", "log1",
                                                      "report0", "report1", "stats.json"]
    assert (foo / "description").read_text() == "WARNING in foo\n"
    assert (foo / "log1").read_text() == "log 1\n"
    [bar, first] = store.all()  # the most recent first
    assert bar.title == "KASAN: use-after-free Read in bar" and bar.count == 1
    assert first.count == 2 and first.instances == ["a-0", "a-1"]
    assert (first.first, first.last) == (1000.0, 1001.0)
    assert first.newest_report() == "report 1\n"


def test_the_oldest_pair_makes_room(tmp_path: Path) -> None:
    store = CrashStore(tmp_path, max_logs=3)
    for i in range(5):
        store.add("a-0", "BUG: soft lockup in x", f"log {i}".encode(), f"report {i}",
                  when=2000.0 + i)
    folder = tmp_path / hashlib.sha1(b"BUG: soft lockup in x").hexdigest()
    logs = {p.name: p.read_text() for p in folder.glob("log*")}
    # log0 and log1 (the two oldest) were replaced by the 4th and 5th crash.
    assert logs == {"log0": "log 3", "log1": "log 4", "log2": "log 2"}
    assert store.crashes["BUG: soft lockup in x"].count == 5


def test_a_new_run_counts_what_earlier_runs_filed(tmp_path: Path) -> None:
    CrashStore(tmp_path).add("a-0", "INFO: task hung in y", b"l", "r", when=3000.0)
    (tmp_path / "not-a-crash").mkdir()  # anything else in the folder is left alone
    again = CrashStore(tmp_path)
    [crash] = again.all()
    assert (crash.title, crash.count, crash.first) == ("INFO: task hung in y", 1, 3000.0)
    again.add("a-1", "INFO: task hung in y", b"l2", "r2", when=3001.0)
    assert crash.count == 2 and crash.newest_report() == "r2"
    assert (crash.folder / "log1").read_bytes() == b"l2"


def test_counts_and_first_last_seen_survive_a_reload(tmp_path: Path) -> None:
    # syzkaller keeps at most 100 logs of a title; the count goes on (#23).
    store = CrashStore(tmp_path)
    for i in range(300):
        store.add(f"a-{i % 3}", "WARNING in baz", b"l", "r", when=5000.0 + i)
    folder = tmp_path / hashlib.sha1(b"WARNING in baz").hexdigest()
    assert len(list(folder.glob("log[0-9]*"))) == 100
    again = CrashStore(tmp_path)
    [crash] = again.all()
    assert (crash.count, crash.first, crash.last) == (300, 5000.0, 5299.0)
    again.add("a-0", "WARNING in baz", b"l", "r", when=6000.0)
    [crash] = CrashStore(tmp_path).all()
    assert (crash.count, crash.first, crash.last) == (301, 5000.0, 6000.0)


def test_a_folder_without_stats_is_counted_by_its_logs(tmp_path: Path) -> None:
    store = CrashStore(tmp_path)
    for i in range(3):
        store.add("a-0", "BUG: old", b"l", "r", when=7000.0 + i)
    store.add("a-0", "BUG: garbled", b"l", "r", when=7100.0)
    old = store.crashes["BUG: old"].folder
    (old / "stats.json").unlink()  # as an older vmtui (or syzkaller) left it
    (store.crashes["BUG: garbled"].folder / "stats.json").write_text('{"count": "many"}')
    again = CrashStore(tmp_path)
    crash = again.crashes["BUG: old"]
    assert (crash.count, crash.first, crash.last) == (3, 7000.0, 7002.0)
    assert again.crashes["BUG: garbled"].count == 1
    again.add("a-1", "BUG: old", b"l", "r", when=7003.0)
    assert json.loads((old / "stats.json").read_text()) == {
        "count": 4, "first": 7000.0, "last": 7003.0}
    assert sorted(p.name for p in old.iterdir() if "stats" in p.name) == ["stats.json"]
