"""The search across consoles, on logs written by the real ConsoleLog and merger
(with their time index): order across instances, time window, source filter,
cap and "more", rotated files, bad patterns, hostile text, logs without index."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vmtui.backends.console.disklog import ConsoleLog
from vmtui.backends.console.search import SearchQuery, instance_logs, logs_of, search
from vmtui.backends.console.timeindex import RECORD, IndexReader, encode, index_path
from vmtui.backends.inert import inert
from vmtui.backends.vm.errors import VMError
from vmtui.backends.vm.merger import OutputMerger

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def write(workdir: Path, timed: list[tuple[float, str, bytes]]) -> Path:
    """A console.log written through a merger at the given (time, source, bytes)."""
    workdir.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    log = ConsoleLog(workdir / "console.log", lambda _: None, wallclock=clock)
    merger = OutputMerger(tee=log)
    for when, source, data in timed:
        clock.now = T0 + when
        merger.feed(source, data)
    log.close()
    return workdir / "console.log"


@pytest.fixture
def two(tmp_path: Path) -> list[tuple[str, Path]]:
    a = write(tmp_path / "a", [(0.0, "console", b"boot a\n"), (1.0, "console", b"ping a 1\n"),
                               (3.0, "stdout", b"ping a 3 from the workload\n"),
                               (5.0, "console", b"ping a 5\n")])
    b = write(tmp_path / "b", [(0.5, "console", b"boot b\n"), (2.0, "console", b"ping b 2\n"),
                               (4.0, "console", b"noise\nping b 4\n")])
    return [("vm-a", a), ("vm-b", b)]


async def test_hits_merge_by_time_across_instances(two: list[tuple[str, Path]]) -> None:
    result = await search(two, SearchQuery(r"ping \w \d"))
    assert [(h.instance, h.text) for h in result.hits] == [
        ("vm-a", "ping a 1"), ("vm-b", "ping b 2"), ("vm-a", "ping a 3 from the workload"),
        ("vm-b", "ping b 4"), ("vm-a", "ping a 5")]
    assert [h.time - T0 for h in result.hits] == pytest.approx([1, 2, 3, 4, 5])
    assert [h.source for h in result.hits] == ["console", "console", "stdout", "console",
                                               "console"]
    assert not result.more and result.files == 2 and not result.problems
    # The offset is the line's own, in its file.
    hit = result.hits[3]
    with open(hit.log, "rb") as f:
        f.seek(hit.offset)
        assert f.readline() == b"ping b 4\n"


async def test_time_window_reads_only_its_bytes(two: list[tuple[str, Path]]) -> None:
    result = await search(two, SearchQuery("ping", since=T0 + 2.0, until=T0 + 4.0))
    assert [h.text for h in result.hits] == ["ping b 2", "ping a 3 from the workload",
                                             "ping b 4"]
    everything = await search(two, SearchQuery("ping"))
    assert result.searched < everything.searched
    none = await search(two, SearchQuery("ping", since=T0 + 60))
    assert none.hits == [] and none.searched == 0


async def test_source_filter(two: list[tuple[str, Path]]) -> None:
    result = await search(two, SearchQuery("ping", sources=("stdout",)))
    assert [(h.instance, h.source, h.text) for h in result.hits] == [
        ("vm-a", "stdout", "ping a 3 from the workload")]
    vmtui = await search(two, SearchQuery("boot", sources=("console",)))
    assert [h.text for h in vmtui.hits] == ["boot a", "boot b"]


async def test_cap_says_more_and_keeps_the_earliest(tmp_path: Path) -> None:
    logs = [(f"vm-{n}", write(tmp_path / str(n), [
        (k + n / 10, "console", b"tick %d %d\n" % (n, k)) for k in range(50)]))
        for n in range(3)]
    result = await search(logs, SearchQuery("tick", limit=10))
    assert result.more and len(result.hits) == 10
    assert [h.text for h in result.hits[:4]] == ["tick 0 0", "tick 1 0", "tick 2 0", "tick 0 1"]
    exact = await search(logs, SearchQuery("tick 1 ", limit=50))
    assert not exact.more and len(exact.hits) == 50


async def test_source_filter_goes_on_past_skipped_hits(tmp_path: Path) -> None:
    # 600 console hits come before the one from stdout: the search runs ripgrep
    # again past them rather than stopping at its count.
    timed = [(k / 1000, "console", b"match %d\n" % k) for k in range(600)]
    timed.append((1.0, "stdout", b"match from stdout\n"))
    log = write(tmp_path / "a", timed)
    result = await search([("vm", log)], SearchQuery("match", sources=("stdout",), limit=1))
    assert [h.text for h in result.hits] == ["match from stdout"] and not result.more


async def test_rotated_logs_come_first(tmp_path: Path) -> None:
    workdir = tmp_path / "vm"
    old = write(workdir, [(0.0, "console", b"hit old\n")])
    old.rename(workdir / "console.log.1")
    index_path(old).rename(index_path(workdir / "console.log.1"))
    older = write(workdir, [(-5.0, "console", b"hit oldest\n")])
    older.rename(workdir / "console.log.2")
    index_path(older).rename(index_path(workdir / "console.log.2"))
    write(workdir, [(9.0, "console", b"hit new\n")])
    logs = logs_of(workdir)
    assert [p.name for p in logs] == ["console.log.2", "console.log.1", "console.log"]
    result = await search([("vm", p) for p in logs], SearchQuery("^hit"))
    assert [h.text for h in result.hits] == ["hit oldest", "hit old", "hit new"]
    assert logs_of(tmp_path / "nothing") == []


async def test_earlier_runs_of_the_pool_are_searched_too(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    write(pool / "run-20261201-100000-ab" / "vm-0", [(0.0, "console", b"hit run 1\n")])
    write(pool / "run-20261203-100000-cd" / "vm-0", [(5.0, "console", b"hit run 2\n")])
    write(pool / "run-20261203-100000-cd" / "vm-1", [(6.0, "console", b"hit other vm\n")])
    (pool / "elsewhere" / "vm-0").mkdir(parents=True)  # not a run folder: left alone
    now = write(pool / "run-20261204-100000-ef" / "vm-0", [(9.0, "console", b"hit now\n")])
    logs = instance_logs(now.parent)
    assert [p.parent.parent.name for p in logs] == [
        "run-20261201-100000-ab", "run-20261203-100000-cd", "run-20261204-100000-ef"]
    result = await search([("vm-0", p) for p in logs], SearchQuery("^hit"))
    assert [h.text for h in result.hits] == ["hit run 1", "hit run 2", "hit now"]


async def test_bad_pattern_names_it(two: list[tuple[str, Path]]) -> None:
    with pytest.raises(VMError, match=r"bad pattern 'ping \(unclosed'.*regex parse error"):
        await search(two, SearchQuery("ping (unclosed"))
    with pytest.raises(VMError, match="pattern is empty"):
        await search(two, SearchQuery(""))
    with pytest.raises(VMError, match="limit 0 is not between"):
        await search(two, SearchQuery("x", limit=0))
    with pytest.raises(VMError, match=r"ends .* before it begins"):
        await search(two, SearchQuery("x", since=5, until=1))


async def test_hostile_line_arrives_inert(tmp_path: Path) -> None:
    evil = b"pwn \x1b]0;owned\x07\x1b[2J [@click=app.quit] \x9b31m\n"
    log = write(tmp_path / "a", [(0.0, "console", evil)])
    hit, = (await search([("vm", log)], SearchQuery("pwn"))).hits
    assert "\x1b" not in hit.text and "\x07" not in hit.text and "\x9b" not in hit.text
    assert hit.text == inert(evil[:-1].decode("utf-8", "replace"))


async def test_missing_file_and_no_index(tmp_path: Path) -> None:
    bare = tmp_path / "bare.log"
    bare.write_bytes(b"needle without index\n")
    os.utime(bare, (T0 + 7, T0 + 7))
    result = await search([("gone", tmp_path / "nope.log"), ("bare", bare)], SearchQuery("needle"))
    assert [(h.instance, h.time, h.source) for h in result.hits] == [("bare", T0 + 7, "")]
    assert len(result.problems) == 1 and "gone" in result.problems[0]


def test_index_torn_record_and_bisection(tmp_path: Path) -> None:
    path = tmp_path / "console.log.idx"
    path.write_bytes(encode(0, T0, "console") + encode(100, T0 + 1, "stdout")
                     + encode(250, T0 + 2, "a-very-long-source-name")
                     + encode(400, T0 + 3, "x")[:RECORD // 2])
    index = IndexReader(path)
    assert len(index) == 3
    assert index.at(99) == (0, T0, "console")
    assert index.at(100).source == "stdout"  # type: ignore[union-attr]
    assert index.at(10_000).source == "a-very-long-"  # type: ignore[union-attr]
    assert index.offset_at(T0 + 0.5) == 100 and index.offset_at(T0 + 9) == -1
    index.close()


def test_disk_log_indexes_each_source_run(tmp_path: Path) -> None:
    write(tmp_path, [(0.0, "console", b"a\n"), (0.001, "console", b"b\n"),
                     (0.002, "qemu", b"c\n"), (1.0, "console", b"d\n")])
    index = IndexReader(index_path(tmp_path / "console.log"))
    # The second console write, 1 ms later, shares the first's entry.
    assert [(e.offset, round(e.time - T0, 3), e.source)
            for e in (index[i] for i in range(len(index)))] == [
        (0, 0.0, "console"), (4, 0.002, "qemu"), (6, 1.0, "console")]
