"""console.log on disk: whole lines per source, a marker at each boot, and a
file that fails (full, read-only) reported once without stopping the console."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.helpers import scripted_config
from vmtui.backends import disklog
from vmtui.backends.disklog import ConsoleLog
from vmtui.backends.fleet import Fleet
from vmtui.backends.merger import OutputMerger


class Bytes:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data


async def test_sources_flooding_together_never_splice_a_line_on_disk() -> None:
    tee = Bytes()
    merger = OutputMerger(tee=tee)
    # Two sources whose reads end mid-line, interleaved read by read.
    serial = b"".join(b"serial line %05d with some text\n" % i for i in range(3000))
    command = b"".join(b"command output %05d\n" % i for i in range(3000))
    a = b = 0
    while a < len(serial) or b < len(command):
        merger.feed("console", serial[a:a + 37])
        merger.feed("stdout", command[b:b + 23])
        a, b = a + 37, b + 23
    merger.feed("console", b"a prompt without newline")
    merger.eof("console")
    lines = bytes(tee.data).split(b"\n")
    assert lines[-1] == b""  # ends with a whole line
    assert [x for x in lines if x.startswith(b"serial")] == serial.split(b"\n")[:-1]
    assert [x for x in lines if x.startswith(b"command")] == command.split(b"\n")[:-1]
    assert lines[-2] == b"a prompt without newline"
    assert len(lines) == 6002


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_failing_log_keeps_lines_in_memory_and_says_so_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    said: list[str] = []
    now = [0.0]
    log = ConsoleLog(tmp_path / "console.log", said.append, retry=1.0, backlog=100,
                     clock=lambda: now[0])
    full = [False]
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        if full[0]:
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(disklog.os, "write", write)
    log.write(b"before\n")
    full[0] = True
    for i in range(30):  # 30 lines of 8 bytes: the backlog keeps the newest 100 bytes
        log.write(b"line %02d\n" % i)
        now[0] += 0.5
    assert said == [f"console.log cannot be written ({os.strerror(code)}); the console "
                    "is still read, its lines wait in memory until the file takes them"]
    assert log.error == os.strerror(code)
    full[0] = False
    now[0] += 1
    log.write(b"after\n")
    assert said[-1] == ""
    log.close()
    lines = (tmp_path / "console.log").read_text().splitlines()
    kept = [f"line {i:02d}" for i in range(18, 30)]
    assert lines == ["before", *kept, "after",
                     "[vmtui] console.log writable again; 18 line(s) did not fit in memory "
                     "meanwhile and are missing here"]
    assert (tmp_path / "console.log").stat().st_mode & 0o777 == 0o600


async def test_each_boot_starts_with_a_marker_after_the_last_boots_partial_line(
        tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=1), run_name="run")
    try:
        await fleet.start()
        rec = fleet.record("snap-0")
        assert rec.merger is not None
        rec.merger.feed("console", b"killed mid-li")
        await fleet.restart("snap-0")
        assert rec.merger is not None
        rec.merger.feed("console", b"second boot\n")
    finally:
        await fleet.close()
    lines = rec.console_log.read_text().splitlines()
    assert [x.split(" at ")[0] for x in lines] == [
        "[vmtui] boot 1 of snap-0", "killed mid-li", "[vmtui] boot 2 of snap-0", "second boot"]
