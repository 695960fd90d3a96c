"""The client's console mirror: cursors that never go back, missed lines
counted, a restarted daemon's ring renumbered after what is held."""

from __future__ import annotations

import pytest

from vmtui.backends.fleet.control import ConsoleChunk
from vmtui.remote.mirror import ConsoleMirror, chunk_of_columns


def chunk(first: int, count: int, missed: int = 0, partial: str = "") -> ConsoleChunk:
    lines = [(n, "console", f"line {n}", 0.0) for n in range(first, first + count)]
    return ConsoleChunk(lines, missed, first + count, partial)


def test_lines_older_than_the_first_chunk_are_not_missed() -> None:
    mirror = ConsoleMirror(100)
    assert mirror.start() == 0 and mirror.since(0).lines == []
    assert mirror.add(chunk(500, 3, missed=500, partial="$ "), asked=0)
    got = mirror.since(mirror.start())
    assert [line[0] for line in got.lines] == [500, 501, 502]
    assert (got.missed, got.next_cursor, got.partial) == (0, 503, "$ ")
    assert mirror.since(0).missed == 0  # from "the oldest held" too
    assert mirror.since(503).lines == []


def test_gaps_and_evicted_lines_count_as_missed() -> None:
    mirror = ConsoleMirror(4)
    mirror.add(chunk(0, 3), asked=0)
    mirror.add(chunk(10, 3, missed=7), asked=3)  # the daemon's ring overran
    got = mirror.since(1)
    assert [line[0] for line in got.lines] == [2, 10, 11, 12]  # 4 held: 0 and 1 evicted
    assert got.missed == 8  # line 1 and lines 3..9
    assert mirror.since(11).lines[0][0] == 11 and mirror.since(11).missed == 0


def test_a_restarted_daemon_is_renumbered_after_what_is_held() -> None:
    mirror = ConsoleMirror(100)
    mirror.add(chunk(0, 40), asked=0)
    # Subscribed again from 40, the new daemon's ring is at 2: it started over.
    assert not mirror.add(ConsoleChunk([], 0, 2, ""), asked=40)
    assert mirror.server_cursor() == 0
    assert mirror.add(chunk(0, 2), asked=0)
    got = mirror.since(40)
    assert [(line[0], line[2]) for line in got.lines] == [(40, "line 0"), (41, "line 1")]
    assert got.missed == 0 and got.next_cursor == 42


def test_columns_are_checked_item_by_item() -> None:
    good = {"seqs": [3, 4], "sources": ["console", "ssh"], "texts": ["a", "b"],
            "at": [1, 2.5], "missed": 0, "next_cursor": 5, "partial": ""}
    assert chunk_of_columns(good).lines == [(3, "console", "a", 1.0), (4, "ssh", "b", 2.5)]
    for field, value in [("seqs", [3, True]), ("texts", ["a", 7]), ("sources", ["x"]),
                         ("at", [1, "2"]), ("seqs", "34"), ("missed", None)]:
        with pytest.raises(ValueError, match="not a console chunk"):
            chunk_of_columns({**good, field: value})
    with pytest.raises(ValueError, match="not a console chunk"):
        chunk_of_columns({"seqs": []})


def test_a_chunk_out_of_order_takes_the_careful_path() -> None:
    mirror = ConsoleMirror(100)
    mirror.add(chunk(0, 5), asked=0)
    lines = [(5, "console", "five", 0.0), (4, "console", "old", 0.0), (6, "console", "six", 0.0)]
    mirror.add(ConsoleChunk(lines, 0, 7, ""), asked=5)
    got = mirror.since(0)
    assert [line[0] for line in got.lines] == [0, 1, 2, 3, 4, 5, 6]
    assert [line[2] for line in got.lines][4:] == ["line 4", "five", "six"]
