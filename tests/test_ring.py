"""The console ring: absolute sequence numbers, what a late reader missed, cheap lines."""

from __future__ import annotations

import gc

from vmtui.backends.console.ring import SEQ, SOURCE, TEXT, ConsoleRing


def test_append_and_extend_number_lines_in_order() -> None:
    ring = ConsoleRing(maxlen=10)
    ring.append("console", "first", 1.0)
    ring.extend("stdout", ["a", "b", "c"], 2.0)
    lines, missed = ring.since(0)
    assert missed == 0
    assert [(line[SEQ], line[SOURCE], line[TEXT]) for line in lines] == [
        (0, "console", "first"), (1, "stdout", "a"), (2, "stdout", "b"), (3, "stdout", "c")]
    assert ring.next_seq == 4 and len(ring) == 4


def test_a_late_reader_learns_how_many_lines_it_missed() -> None:
    ring = ConsoleRing(maxlen=5)
    ring.extend("console", [str(i) for i in range(12)], 0.0)
    lines, missed = ring.since(3)
    assert missed == 4  # 3..6 are gone; 7..11 are held
    assert [line[TEXT] for line in lines] == ["7", "8", "9", "10", "11"]
    assert ring.first_seq == 7
    assert ring.since(12) == ([], 0)
    assert [line[TEXT] for line in ring.tail(2)] == ["10", "11"]


def test_held_lines_are_not_tracked_by_the_collector() -> None:
    # Rings hold 10,000 lines per instance: exact tuples of atomic values drop
    # out of the collector's walks (a NamedTuple line never would).
    ring = ConsoleRing(maxlen=1000)
    ring.extend("console", [f"line {i}" for i in range(1000)], 0.0)
    ring.append("console", "one more", 0.0)
    gc.collect()
    assert not any(gc.is_tracked(line) for line in ring.since(0)[0])


def test_tail_reads_the_newest_lines_in_order_from_the_end() -> None:
    ring = ConsoleRing(maxlen=10000)
    ring.extend("serial", [str(i) for i in range(10000)], 0.0)
    ring.append("serial", "newest", 1.0)
    assert [line[TEXT] for line in ring.tail(3)] == ["9998", "9999", "newest"]
    assert [line[SEQ] for line in ring.tail(3)] == [9998, 9999, 10000]
    assert ring.tail(0) == [] and len(ring.tail(20000)) == 10000
    assert ring.tail(20000)[0][TEXT] == "1"  # the oldest held first
    assert ConsoleRing().tail(5) == []
