"""console.log on disk: whole lines per source, a marker at each boot, and a
file that fails (full, read-only) reported once without stopping the console."""

from __future__ import annotations

import errno
import os
import random
import re
from pathlib import Path

import pytest

from tests.helpers import scripted_config
from vmtui.backends.console.disklog import ConsoleLog
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.vm.merger import OutputMerger


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

    monkeypatch.setattr(os, "write", write)
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
    # The note stands where the 18 lines are missing, not after the backlog.
    assert lines == ["before",
                     "[vmtui] console.log writable again; 18 line(s) did not fit in memory "
                     "meanwhile and are missing here",
                     *kept, "after"]
    assert (tmp_path / "console.log").stat().st_mode & 0o777 == 0o600


async def test_each_boot_starts_with_a_marker_after_the_last_boots_partial_line(
        tmp_path: Path) -> None:
    fleet = Fleet(scripted_config(tmp_path, count=1), run_name="run")
    try:
        await fleet.start()
        rec = fleet.record("snap-0")
        assert rec.console is not None
        rec.console.merger.feed("console", b"killed mid-li")
        await fleet.restart("snap-0")
        assert rec.console is not None
        rec.console.merger.feed("console", b"second boot\n")
    finally:
        await fleet.close()
    lines = rec.console_log.read_text().splitlines()
    assert [x.split(" at ")[0] for x in lines] == [
        "[vmtui] boot 1 of snap-0", "killed mid-li", "[vmtui] boot 2 of snap-0", "second boot"]


class Disk:
    """``os.write`` on one file of a disk with ``room`` bytes left (None: no limit).

    Like a full file system: a write takes what fits, the next raises ENOSPC.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, log: ConsoleLog) -> None:
        self.fd = log._fd
        self.room: int | None = None
        self.real = os.write
        monkeypatch.setattr(os, "write", self.write)

    def write(self, fd: int, data: bytes) -> int:
        if fd != self.fd or self.room is None:
            return self.real(fd, data)
        if self.room == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done = self.real(fd, bytes(data[:self.room]))
        self.room -= done
        return done


NOTE = re.compile(r"\[vmtui\] console\.log writable again; (?:nothing was lost|(\d+) line\(s\) "
                  r"did not fit in memory meanwhile and are missing here)")


def audit(lines: list[str], sent: int) -> None:
    """Every line whole, in order, and each gap right after a note that counts it."""
    due = 0
    for where, line in enumerate(lines):
        if note := NOTE.fullmatch(line):
            due += int(note.group(1) or 0)
            continue
        flood = re.fullmatch(r"FLOOD (\d+) x+", line)
        assert flood, f"line {where} is not whole: {line!r}"
        assert int(flood.group(1)) == due, (
            f"line {where} is FLOOD {flood.group(1)} where FLOOD {due} was due: "
            f"a gap no note stands at: {lines[max(0, where - 2):where + 1]}")
        due += 1
    assert due == sent


def flood(number: int, width: int = 4) -> bytes:
    return b"FLOOD %d %s\n" % (number, b"x" * width)


def test_a_line_the_full_disk_cut_is_completed_before_anything_else(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The splice seen on a full tmpfs: the disk took "FLOOD 0 x", the rest of
    # that line was dropped from the backlog, and the next write after the
    # recovery went on the same line ("FLOOD 0 xFLOOD 27 xxxx").
    now = [0.0]
    log = ConsoleLog(tmp_path / "console.log", lambda _: None, retry=1.0, backlog=64,
                     clock=lambda: now[0])
    disk = Disk(monkeypatch, log)
    disk.room = 9
    log.write(flood(0) + flood(1))
    for i in range(2, 40):
        log.write(flood(i))
        now[0] += 0.3
    disk.room = None
    now[0] += 1
    log.write(flood(40))
    log.close()
    lines = (tmp_path / "console.log").read_text().splitlines()
    assert lines[:2] == ["FLOOD 0 xxxx", "[vmtui] console.log writable again; 35 line(s) did "
                         "not fit in memory meanwhile and are missing here"]
    assert lines[2:] == [f"FLOOD {i} xxxx" for i in range(36, 41)]


@pytest.mark.parametrize("seed", range(12))
def test_whatever_the_disk_takes_every_line_is_whole_and_each_gap_noted_in_place(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rnd = random.Random(seed)
    now = [0.0]
    log = ConsoleLog(tmp_path / "console.log", lambda _: None, retry=1.0, backlog=300,
                     clock=lambda: now[0])
    disk = Disk(monkeypatch, log)
    sent = 0
    for _ in range(400):
        if rnd.random() < 0.1:  # the disk fills, takes a few bytes, or has room again
            disk.room = rnd.choice([None, None, 0, rnd.randrange(1, 40), rnd.randrange(40, 400)])
        count = rnd.randrange(1, 5)
        log.write(b"".join(flood(sent + i, rnd.randrange(1, 30)) for i in range(count)))
        sent += count
        now[0] += rnd.choice([0.0, 0.2, 0.7])
    disk.room = None
    now[0] += 1
    log.write(b"")
    assert log.error == ""
    log.close()
    audit((tmp_path / "console.log").read_text().splitlines(), sent)


def test_a_note_is_written_at_its_gap_with_every_line_lost_before_it_and_completed_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    log = ConsoleLog(tmp_path / "console.log", lambda _: None, retry=1.0, backlog=30,
                     clock=lambda: now[0])
    disk = Disk(monkeypatch, log)
    disk.room = 0
    for i in range(10):
        log.write(flood(i))  # each write is a retry (a note tried, in vain, while room is 0)
        now[0] += 1.5
        if i == 6:
            disk.room = 30  # the next try: the note's first 30 bytes, then nothing again
    disk.room = None
    now[0] += 1
    log.write(b"")
    log.close()
    lines = (tmp_path / "console.log").read_text().splitlines()
    audit(lines, 10)
    # Lines 0-4 went before the first note began; 5-8 while its rest waited.
    missing = "line(s) did not fit in memory meanwhile and are missing here"
    assert lines == [f"[vmtui] console.log writable again; 5 {missing}",
                     f"[vmtui] console.log writable again; 4 {missing}", "FLOOD 9 xxxx"]


def test_closing_with_a_cut_line_cuts_the_file_back_to_the_lines_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "console.log"
    log = ConsoleLog(path, lambda _: None)
    log.write(flood(0))
    disk = Disk(monkeypatch, log)
    disk.room = 10
    log.write(flood(1) + flood(2))
    log.close()  # the disk is still full
    assert path.read_bytes() == flood(0)
    monkeypatch.undo()
    nxt = ConsoleLog(path, lambda _: None)
    nxt.write(b"[vmtui] boot 2\n")
    nxt.close()
    assert path.read_text().splitlines() == ["FLOOD 0 xxxx", "[vmtui] boot 2"]


@pytest.mark.parametrize(("left", "after"), [
    (b"[vmtui] boot 1\nhalf a li", b"[vmtui] boot 1\nhalf a li\n[vmtui] boot 2\n"),
    (b"whole\n", b"whole\n[vmtui] boot 2\n"),
    (b"", b"[vmtui] boot 2\n"),
])
def test_a_log_left_inside_a_line_by_a_killed_vmtui_is_mended_on_open(
        tmp_path: Path, left: bytes, after: bytes) -> None:
    # close() cuts a torn line back; a vmtui killed with SIGKILL cannot, and
    # the next boot's marker must not be glued onto the torn line.
    path = tmp_path / "console.log"
    path.write_bytes(left)
    log = ConsoleLog(path, lambda _: None)
    log.write(b"[vmtui] boot 2\n")
    log.close()
    assert path.read_bytes() == after
