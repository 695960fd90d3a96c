"""The BSD debugger sequences, typed into a pseudo-terminal whose peer plays ddb."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import pty
import termios
import time
import tty
from pathlib import Path

import pytest

from tests.helpers import eventually, scripted_config
from vmtui.backends.console.ring import SOURCE, TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.vm.diagnose import FREEBSD_DDB, OPENBSD_DDB, send_sequence, sysrq_keys


class DdbPeer:
    """The far end of a pty, reading lines as a kernel debugger would, with a prompt."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)  # no echo, no line discipline changes to the bytes
        attrs = termios.tcgetattr(self.slave)
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        self.lines: list[tuple[float, bytes]] = []
        self.raw = bytearray()
        self.prompts = 0

    def on_readable(self) -> None:
        data = os.read(self.slave, 4096)
        self.raw += data
        while b"\n" in self.raw[sum(len(line) + 1 for _, line in self.lines):]:
            done = sum(len(line) + 1 for _, line in self.lines)
            end = self.raw.index(b"\n", done)
            self.lines.append((time.monotonic(), bytes(self.raw[done:end])))
            os.write(self.slave, b"db> ")
            self.prompts += 1

    async def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@pytest.mark.parametrize(("sequence", "first"), [(FREEBSD_DDB, b"show registers"),
                                                 (OPENBSD_DDB, b"show panic")])
async def test_sequence_bytes_order_and_pace(sequence: tuple[str, ...], first: bytes) -> None:
    peer = DdbPeer()
    loop = asyncio.get_running_loop()
    loop.add_reader(peer.slave, peer.on_readable)
    pace = 0.15
    try:
        start = time.monotonic()
        await send_sequence(peer.write, sequence, pace=pace)
        await eventually(lambda: len(peer.lines) == len(sequence), 2, "every line arrives")
    finally:
        loop.remove_reader(peer.slave)
        peer.close()
    # Exactly the commands, in order, each ended by a newline, nothing else.
    assert bytes(peer.raw) == b"".join(c.encode() + b"\n" for c in sequence)
    assert [line for _, line in peer.lines] == [c.encode() for c in sequence]
    assert peer.lines[0][1] == b"" and peer.lines[3][1] == first
    assert peer.prompts == len(sequence)
    # One command per pace: each arrives about `pace` after the previous one.
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(peer.lines)]
    assert all(pace * 0.8 <= gap <= pace * 3 for gap in gaps), gaps
    assert peer.lines[0][0] - start < pace


# syzkaller's vm/vmimpl sequences (FreeBSD and OpenBSD ddb), as vmtui must type them.
SYZKALLER_DDB = {
    "freebsd": ["", "set $lines = 0", "set $maxwidth = 0", "show registers", "show proc", "ps",
                "show all locks", "show malloc", "show uma", "show all tcpcbs/bl"],
    "openbsd": ["", "set $lines = 0", "set $maxwidth = 0", "show panic", "show kasan", "trace",
                "show registers", "show proc", "ps", "show all locks", "show malloc",
                "show all pools", "machine ddbcpu 0", "trace", "machine ddbcpu 1", "trace"],
}


@pytest.mark.parametrize("os_name", ["freebsd", "openbsd"])
async def test_the_ddb_button_types_syzkallers_sequence_verbatim(
        tmp_path: Path, os_name: str) -> None:
    # The whole path: the fleet's diagnose action types into the console, whose
    # scripted peer echoes every line back: what arrives is what was typed.
    config = scripted_config(tmp_path, count=1)
    config = dataclasses.replace(config, pool=dataclasses.replace(
        config.pool, target=f"{os_name}/amd64"))
    fleet = Fleet(config)
    fleet.watch.after_seconds = 0
    try:
        await fleet.start()
        ring = fleet.console("snap-0")
        mark = ring.next_seq
        result = await fleet.diagnose("snap-0", "ddb", pace=0)
        want = SYZKALLER_DDB[os_name]
        typed = lambda: [line[TEXT] for line in ring.since(mark)[0]  # noqa: E731
                         if line[SOURCE] == "console"]
        await eventually(lambda: len(typed()) >= len(want), 3)
        assert typed() == want
        assert result.sections["ddb"] == "\n".join(want)
    finally:
        await fleet.close()


def test_sysrq_keys() -> None:
    assert sysrq_keys("w") == ("alt", "sysrq", "w")
    with pytest.raises(ValueError, match="one letter"):
        sysrq_keys("tw")
