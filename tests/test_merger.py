"""OutputMerger: whole lines, tagged by source, never blocking a source."""

from __future__ import annotations

import asyncio
import gc
import io

import pytest

from tests.helpers import eventually
from vmtui.backends.vm.merger import Chunk, OutputMerger


def reader(*pieces: bytes) -> asyncio.StreamReader:
    r = asyncio.StreamReader()
    for piece in pieces:
        r.feed_data(piece)
    r.feed_eof()
    return r


async def collect(merger: OutputMerger) -> list[Chunk]:
    await merger.wait_sources(timeout=5)
    await merger.close()
    return [c async for c in merger]


@pytest.mark.parametrize(("pieces", "lines"), [
    ([b"a\nb\n"], [b"a", b"b"]),
    ([b"he", b"llo\nwor", b"ld\n"], [b"hello", b"world"]),
    ([b"crlf\r\nnext\r\n"], [b"crlf", b"next"]),
    ([b"no newline at end"], [b"no newline at end"]),
    ([b"\n\n"], [b"", b""]),
    ([b"x" * 10, b"\n"], [b"x" * 10]),
    ([b"split crlf\r", b"\nnext\r\n"], [b"split crlf", b"next"]),
    ([b"two crs\r\r\n"], [b"two crs\r"]),
    ([b"bare\rcr\n", b"\r"], [b"bare\rcr", b"\r"]),
])
async def test_split_lines(pieces: list[bytes], lines: list[bytes]) -> None:
    merger = OutputMerger()
    merger.add("console", reader(*pieces))
    chunks = await collect(merger)
    assert [data for _, data, _ in chunks] == lines
    assert {source for source, _, _ in chunks} == {"console"}


async def test_partial_line_flushed_at_eof_keeps_order() -> None:
    r = asyncio.StreamReader()
    merger = OutputMerger()
    merger.add("console", r)
    r.feed_data(b"first\nprompt# ")
    await asyncio.sleep(0.01)
    assert [c[1] for c in merger.drain()] == [b"first"]
    r.feed_eof()
    assert [c[1] for c in await collect(merger)] == [b"prompt# "]


async def test_many_sources_are_tagged_and_whole() -> None:
    merger = OutputMerger()
    readers = {name: asyncio.StreamReader() for name in ("console", "stdout", "stderr")}
    for name, r in readers.items():
        merger.add(name, r)
    # Interleave half lines of every source: no line may mix two sources.
    for i in range(50):
        for name, r in readers.items():
            r.feed_data(f"{name} line {i} ".encode())
        await asyncio.sleep(0)
        for r in readers.values():
            r.feed_data(b"end\n")
        await asyncio.sleep(0)
    for r in readers.values():
        r.feed_eof()
    chunks = await collect(merger)
    assert len(chunks) == 150
    for chunk in chunks:
        assert chunk[1].startswith(chunk[0].encode())
        assert chunk[1].endswith(b" end")
    for name in readers:
        mine = [c[1] for c in chunks if c[0] == name]
        assert mine == [f"{name} line {i} end".encode() for i in range(50)]


async def test_burst_reaches_tee_in_full() -> None:
    tee = io.BytesIO()
    merger = OutputMerger(tee=tee)
    payload = b"".join(b"burst %06d\n" % i for i in range(20000))
    merger.add("console", reader(*[payload[i:i + 4093] for i in range(0, len(payload), 4093)]))
    chunks = await collect(merger)
    assert tee.getvalue() == payload
    assert len(chunks) == 20000
    assert chunks[-1][1] == b"burst 019999"


async def test_slow_reader_never_blocks_sources() -> None:
    # Nobody consumes: the sources still run to EOF, the oldest lines are
    # dropped from the queue and counted, the tee has every byte.
    tee = io.BytesIO()
    merger = OutputMerger(tee=tee, max_queued=100)
    payload = b"".join(b"%d\n" % i for i in range(5000))
    merger.add("console", reader(payload))
    assert await merger.wait_sources(timeout=5)
    assert tee.getvalue() == payload
    assert merger.dropped == 4900
    kept = merger.drain()
    assert [c[1] for c in kept] == [b"%d" % i for i in range(4900, 5000)]


async def test_drain_never_waits() -> None:
    merger = OutputMerger()
    merger.add("console", asyncio.StreamReader())  # never produces
    assert merger.drain() == []
    await merger.close()


async def test_long_line_is_cut() -> None:
    merger = OutputMerger(max_line=1000)
    merger.add("console", reader(b"y" * 2500 + b"\n"))
    chunks = await collect(merger)
    assert [len(c[1]) for c in chunks] == [1000, 1000, 500]


class Broken:
    def __init__(self) -> None:
        self.calls = 0

    async def read(self, n: int = -1) -> bytes:
        self.calls += 1
        if self.calls == 1:
            return b"half a li"
        raise OSError("device went away")


async def test_error_per_source() -> None:
    merger = OutputMerger()
    merger.add("console", Broken())
    merger.add("stdout", reader(b"fine\n"))
    chunks = await collect(merger)
    console = [c for c in chunks if c[0] == "console"]
    assert console[0][1] == b"half a li"
    assert isinstance(console[1][2], OSError)
    assert "console" in merger.errors and "stdout" not in merger.errors
    assert [c[1] for c in chunks if c[0] == "stdout"] == [b"fine"]


async def test_feed_and_tail() -> None:
    merger = OutputMerger(tail_bytes=8)
    merger.feed("vmtui", b"0123456789\nab")
    merger.eof("vmtui")
    assert merger.tail() == b"56789\nab"
    assert [c[1] for c in merger.drain()] == [b"0123456789", b"ab"]


async def test_iteration_ends_after_close() -> None:
    merger = OutputMerger()
    r = asyncio.StreamReader()
    merger.add("console", r)
    r.feed_data(b"one\n")
    consumer = asyncio.ensure_future(collect_all(merger))
    await asyncio.sleep(0.01)
    await merger.close()
    assert await asyncio.wait_for(consumer, 2) == [b"one"]


async def collect_all(merger: OutputMerger) -> list[bytes]:
    return [c[1] async for c in merger]


async def test_pacer_holds_a_source_back_while_busy() -> None:
    from vmtui.backends.vm.merger import Pacer

    pacer = Pacer(pause=0.5)
    merger = OutputMerger(pacer=pacer)
    r = asyncio.StreamReader()
    merger.add("console", r)
    pacer.busy = True
    r.feed_data(b"one\n")
    got: list[bytes] = []
    await eventually(lambda: got.extend(c[1] for c in merger.drain()) or got, 2)
    assert got == [b"one"]
    r.feed_data(b"two\n")
    # The pump is pausing (0.5 s) after its first read; the second waits in the pipe.
    await asyncio.sleep(0.1)
    assert list(merger.drain()) == []
    pacer.busy = False
    await eventually(lambda: got.extend(c[1] for c in merger.drain()) or len(got) == 2, 2)
    assert got == [b"one", b"two"]
    await merger.close()


def test_queued_lines_are_not_tracked_by_the_collector() -> None:
    # A flood queues many lines: exact tuples of atomic values, which the
    # cyclic collector stops tracking (it would walk a NamedTuple for ever).
    merger = OutputMerger()
    merger.feed("console", b"".join(b"line %d\n" % i for i in range(1000)))
    gc.collect()
    assert not any(gc.is_tracked(chunk) for chunk in merger.drain())
