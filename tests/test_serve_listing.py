"""The daemon's shared instance list: its encoder says what wire.to_json says,
its answers are never older than FRESH, an action makes the next read fresh;
the stream's console messages say what to_json of the chunk says."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from vmtui.backends.fleet.control import ConsoleChunk
from vmtui.backends.fleet.records import Counters, InstanceSnapshot
from vmtui.backends.fleet.wire import to_json
from vmtui.backends.inert import GuestText
from vmtui.backends.vm.state import InstanceState
from vmtui.remote.mirror import chunk_of, chunk_of_columns
from vmtui.serve import listing
from vmtui.serve.listing import Listing, encode
from vmtui.serve.stream import console_message


def snapshots() -> list[InstanceSnapshot]:
    full = InstanceSnapshot(
        name="p-0", index=0, state=InstanceState.RUNNING, uptime=12.5, lines_per_sec=3,
        lines=7, last_line=GuestText('quote " back \\ tab\t é 字 \x1b[31m'),
        error=GuestText("boom"), workdir=Path("/w/p-0"), title=GuestText("KASAN: x"),
        hung_in=math.inf, held=True, gdb="gdb -ex 'target remote :1'",
        fault=GuestText("f"), boot_output=True,
        counters=Counters(1, 2, 3, 4, 0.5, 6.25, 7.0), phase="round 3", since_boot=1e-7,
        pool="p")
    bare = InstanceSnapshot(
        name="q-1", index=1, state=InstanceState.OFFLINE, uptime=None, lines_per_sec=0.0,
        lines=0, last_line=GuestText(""), error=GuestText(""), workdir=Path("/w/q-1"))
    return [full, bare]


def test_the_encoder_says_what_to_json_says() -> None:
    assert listing.FAST  # the fast path is the one tested
    snaps = snapshots()
    assert json.loads("[" + encode(snaps) + "]") == json.loads(json.dumps(to_json(snaps)))
    assert encode([]) == ""


def test_console_messages_say_what_to_json_says() -> None:
    lines = [(5, "console", 'a "b" é', 1.7e9), (6, "ssh", "", 1.7e9 + 0.25)]
    chunk = ConsoleChunk(lines, 2, 7, "$ ")
    rows = json.loads(console_message("p-0", chunk))
    assert rows == {"type": "console", "name": "p-0", "chunk": to_json(chunk)}
    assert chunk_of(rows["chunk"]) == chunk
    cols = json.loads(console_message("p-0", chunk, columns=True))
    assert cols["columns"]["seqs"] == [5, 6] and cols["columns"]["texts"] == ['a "b" é', ""]
    assert chunk_of_columns(cols["columns"]) == chunk
    empty = json.loads(console_message("p-0", ConsoleChunk([], 0, 7, ""), columns=True))
    assert chunk_of_columns(empty["columns"]) == ConsoleChunk([], 0, 7, "")


def test_reads_are_shared_and_never_older_than_fresh() -> None:
    calls = []
    snaps = snapshots()

    def part() -> list[InstanceSnapshot]:
        calls.append(time.monotonic())
        return snaps

    shared = Listing(None, parts=[part, lambda: []])  # type: ignore[arg-type]
    body = shared.body()
    assert json.loads(body) == to_json(snaps)
    assert shared.text() == body.decode() and shared.snapshots() == snaps
    assert len(calls) == 1  # three reads, one snapshot
    seq = shared.seq
    time.sleep(listing.FRESH + 0.05)
    shared.snapshots()
    assert len(calls) == 2  # older than FRESH: taken again before the answer
    assert shared.seq == seq  # the same text: no change counted
    shared.stale()  # an action went through the API
    shared.snapshots()
    assert len(calls) == 3


def test_a_changed_part_moves_the_change_count() -> None:
    state = {"snaps": snapshots()[:1]}
    shared = Listing(None, parts=[lambda: state["snaps"]])  # type: ignore[arg-type]
    shared.text()
    seq = shared.seq
    state["snaps"] = snapshots()
    shared.stale()
    assert [s["name"] for s in json.loads(shared.text())] == ["p-0", "q-1"]
    assert shared.seq == seq + 1
