"""Crash detection: a real kernel log produced here, split reads, and the report formats."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from vmtui.backends.monitor.detector import CrashDetector
from vmtui.backends.vm.merger import OutputMerger

DATA = Path(__file__).parent / "data"


def titles(os: str, text: str) -> list[str]:
    detector = CrashDetector(os)
    one_by_one = [t for line in text.splitlines() if (t := detector.check(line))]
    # The fleet checks whole batches; they must find the same reports.
    assert [t for _, t in detector.check_lines(text.splitlines())] == one_by_one
    return one_by_one


def test_real_sysrq_crash_log() -> None:
    # Produced here: a real guest ran `echo c > /proc/sysrq-trigger`.
    log = (DATA / "linux-sysrq-crash.log").read_text(errors="replace")
    assert titles("linux", log)[0] == "kernel panic: sysrq triggered crash"


def test_boot_log_has_no_false_positive() -> None:
    log = (DATA / "linux-sysrq-crash.log").read_text(errors="replace")
    boot = log.split("sysrq: Trigger a crash")[0]
    assert "Linux version" in boot and titles("linux", boot) == []


@pytest.mark.parametrize("seed", range(5))
async def test_report_split_across_reads_is_found(seed: int) -> None:
    raw = (DATA / "linux-sysrq-crash.log").read_bytes()
    rng = random.Random(seed)
    merger = OutputMerger()
    pos = 0
    while pos < len(raw):  # reads of 1 to 40 bytes, cutting lines anywhere
        step = rng.randint(1, 40)
        merger.feed("console", raw[pos:pos + step])
        pos += step
    merger.eof("console")
    texts = [data.decode("utf-8", "replace") for _, data, _ in merger.drain()]
    found = [t for _, t in CrashDetector("linux").check_lines(texts)]
    assert found[0] == "kernel panic: sysrq triggered crash"


# The first line of each report as the kernels print it, and the title the
# watch shows until the whole report has been read (then syzkaller's title from
# the report replaces it: tests/test_report_corpus.py, tests/test_kernel_reports.py).
# Where the title needs the stack, the tidied line stands in.
FORMATS = [
    ("linux", "[   12.345678] BUG: kernel NULL pointer dereference, address: 0000000000000008",
     "BUG: kernel NULL pointer dereference, address: ADDR"),
    ("linux", "[    5.1] BUG: KASAN: use-after-free in tcp_close+0x1a/0x200",
     "KASAN: use-after-free in tcp_close"),  # syzkaller's titles drop "BUG: "
    # Printed after a general protection fault line, it starts no report itself.
    ("linux", "KASAN: null-ptr-deref in range [0x0000000000000010-0x0000000000000017]", None),
    ("linux", "BUG: KCSAN: data-race in do_sys_open / do_sys_open",
     "KCSAN: data-race in do_sys_open / do_sys_open"),
    ("linux", "UBSAN: shift-out-of-bounds in net/core/dev.c:1234:5",
     "UBSAN: shift-out-of-bounds in net/core/dev.c:LINE"),
    ("linux", "[ 9.9] WARNING: CPU: 1 PID: 4321 at net/ipv4/tcp.c:99 tcp_sendmsg+0x12/0x50",
     "WARNING: CPU: NUM PID: NUM at net/ipv4/tcp.c:LINE tcp_sendmsg"),
    ("linux", "[ 9.9] WARNING: suspicious RCU usage", "WARNING: suspicious RCU usage"),
    # Seen under trinity: informational notices, not crashes.
    ("linux", "[   23.853374] WARNING: The mand mount option has been deprecated and", None),
    ("linux", "WARNING: /etc/ssh/moduli does not exist, using fixed modulus", None),
    ("linux", "[    1.0] ODEBUG: object is on stack, but not annotated", None),
    ("linux", "general protection fault, probably for non-canonical address 0xdffffc0000000001",
     "general protection fault, probably for non-canonical address ADDR"),
    ("linux", "[  1.0] kernel BUG at mm/slub.c:4321!", "kernel BUG at mm/slub.c:LINE!"),
    ("linux", "[ 30.1] watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [syz-executor:123]",
     "BUG: soft lockup - CPU stuck for 23s! [syz-executor:NUM]"),
    ("linux", "[ 250.0] INFO: task kworker/0:1:27 blocked for more than 143 seconds.",
     "INFO: task kworker/NUM:NUM:NUM blocked for more than NUM seconds."),
    ("linux", "rcu: INFO: rcu_preempt self-detected stall on CPU",
     "INFO: rcu_preempt self-detected stall on CPU"),
    ("linux", "[    7.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009",
     "kernel panic: Attempted to kill init!"),
    ("linux", "[    3.3] divide error: 0000 [#1] PREEMPT SMP NOPTI", "divide error: NUM [#NUM] "
     "PREEMPT SMP NOPTI"),
    ("linux", "SYZFAIL: tun: can't open /dev/net/tun", "SYZFAIL: tun: can't open /dev/net/tun"),
    ("freebsd", "panic: page fault", "panic: page fault"),
    ("freebsd", "Fatal trap 12: page fault while in kernel mode",
     "Fatal trap NUM: page fault while in kernel mode"),
    ("openbsd", "panic: kernel diagnostic assertion \"p != NULL\" failed",
     "panic: kernel diagnostic assertion \"p != NULL\" failed"),
    ("openbsd", "uvm_fault(0xffffffff81d6e8b8, 0x8, 0, 1) -> e", "uvm_fault"),
    ("openbsd", "kernel: page fault trap, code=0", "kernel: page fault trap, code=NUM"),
    ("netbsd", "fatal page fault in supervisor mode", "fault in supervisor mode"),
]


@pytest.mark.parametrize(("os", "line", "title"), FORMATS, ids=[t for _, _, t in FORMATS])
def test_report_formats(os: str, line: str, title: str) -> None:
    assert CrashDetector(os).check(line) == title


@pytest.mark.parametrize("line", [
    "[    0.1] Linux version 6.1.0 (debian-kernel@lists.debian.org)",
    "[    2.0] ACPI: button: Power Button [PWRF]",
    "vmtui-guest: alive",
    "debug: no bug here",
])
def test_ordinary_lines(line: str) -> None:
    assert CrashDetector("linux").check(line) is None


@pytest.mark.parametrize("seed", range(5))
def test_batches_find_what_single_lines_find(seed: int) -> None:
    rng = random.Random(seed)
    ordinary = (DATA / "linux-sysrq-crash.log").read_text(errors="replace")
    ordinary_lines = ordinary.split("sysrq: Trigger a crash")[0].splitlines()
    for os in ("linux", "freebsd", "openbsd"):
        reports = [line for o, line, _ in FORMATS if o == os]
        batch = rng.sample(ordinary_lines, 200) + rng.sample(reports, min(3, len(reports)))
        rng.shuffle(batch)
        detector = CrashDetector(os)
        expected = [(i, t) for i, line in enumerate(batch) if (t := detector.check(line))]
        assert len(expected) >= 1
        assert detector.check_lines(batch) == expected
        assert detector.check_lines(ordinary_lines) == []
