"""Report scale benchmark: a burst of kernel reports in one log (issue #23, item 10).

A fuzzing guest that hits a WARN_ON in a loop prints the same WARNING again
and again, each with its registers and call trace, between ordinary lines.
This generates such logs with 100, 1,000 and 10,000 reports and reads each
with ``find_reports`` (what the watch and ``vmtui report`` run), three runs:
the time and reports per second. Reading is linear when reports/s stays flat
as the log grows; the target is >= 1,000 reports/s. The load average is
printed beside each median (the machine is shared).

    python bench/report_scale.py [--tagged]

``--tagged`` gives every line a printk caller tag (``[ T123]``, as
CONFIG_PRINTK_CALLER prints): a report of a task then reads every later line
of that task, up to the reader's window.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from vmtui.backends.monitor.report import find_reports

WARNING = """\
------------[ cut here ]------------
WARNING: CPU: 0 PID: {pid} at drivers/misc/vmtui_crash.c:41 crash_write+0x1b3/0x220 [vmtui_crash]
Modules linked in: vmtui_crash(O) 9p netfs 9pnet_virtio virtio_net net_failover failover
CPU: 0 PID: {pid} Comm: syz-executor.{n} Tainted: G        W  O       6.1.0-56-cloud-amd64 #1
Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
RIP: 0010:crash_write+0x1b3/0x220 [vmtui_crash]
Code: 48 c7 c7 a0 30 4d c0 e8 5d 42 8e f1 eb a5 48 c7 c7 b8 30 4d c0 e8 4f 42 8e f1 <0f> 0b eb 95
RSP: 0018:ffffb4a2c05e3e08 EFLAGS: 00010246
RAX: 0000000000000000 RBX: 0000000000000005 RCX: 0000000000000000
RDX: 0000000000000000 RSI: ffff9c0b47c1b000 RDI: ffffffffc04d3000
RBP: ffffb4a2c05e3e40 R08: 0000000000000000 R09: 0000000000000000
R10: 0000000000000000 R11: 0000000000000000 R12: ffff9c0b47c1b000
R13: 0000000000000005 R14: ffffb4a2c05e3f08 R15: 0000000000000000
FS:  00007f1c2a5e4740(0000) GS:ffff9c0b7ec00000(0000) knlGS:0000000000000000
CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
CR2: 000055d3c6e1c0a8 CR3: 0000000007a4e000 CR4: 00000000000006f0
Call Trace:
 <TASK>
 proc_reg_write+0x56/0xa0
 vfs_write+0xe8/0x3f0
 ? __handle_mm_fault+0x8a5/0xc70
 ksys_write+0x6b/0xf0
 do_syscall_64+0x55/0xb0
 ? exc_page_fault+0x7a/0x180
 entry_SYSCALL_64_after_hwframe+0x6e/0xd8
RIP: 0033:0x7f1c2a6d9f33
Code: 8b 15 e1 0e 0d 00 f7 d8 64 89 02 48 c7 c0 ff ff ff ff eb b7 0f 1f 00 64 8b 04 25 18 00 00
RSP: 002b:00007ffd3d0c5c58 EFLAGS: 00000246 ORIG_RAX: 0000000000000001
RAX: ffffffffffffffda RBX: 0000000000000005 RCX: 00007f1c2a6d9f33
RDX: 0000000000000005 RSI: 000055d3c6e1b2a0 RDI: 0000000000000001
RBP: 000055d3c6e1b2a0 R08: 000055d3c6e1b2a0 R09: 0000000000000000
R10: 0000000000000000 R11: 0000000000000246 R12: 0000000000000005
R13: 00007f1c2a7ad780 R14: 0000000000000005 R15: 00007f1c2a7a89e0
 </TASK>
---[ end trace 0000000000000000 ]---
"""
QUIET = "random: crng reseeded on system resumption\nvirtio_net virtio0 eth0: link up\n"
TITLE = "WARNING in crash_write"


def flood(reports: int, tagged: bool = False) -> str:
    """A console log with ``reports`` WARNINGs, stamped as the kernel stamps them."""
    out: list[str] = []
    clock = 100.0
    for n in range(reports):
        pid = 300 + n % 7
        for line in (WARNING.format(pid=pid, n=n % 7) + QUIET).splitlines():
            clock += 0.000137
            tag = f"[ T{pid}]" if tagged else ""
            out.append(f"[{clock:12.6f}]{tag} {line}\n")
    return "".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tagged", action="store_true", help="printk caller tags on every line")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    for count in (100, 1_000, 10_000):
        log = flood(count, args.tagged)
        times = []
        for run in range(1, args.runs + 1):
            start = time.perf_counter()
            reports = find_reports(log)
            took = time.perf_counter() - start
            times.append(took)
            assert len(reports) == count and {r.title for r in reports} == {TITLE}, \
                (len(reports), {r.title for r in reports})
            print(f"{count:6d} reports ({len(log) / 1e6:5.1f} MB, {log.count(chr(10))} lines), "
                  f"run {run}: {took:6.2f} s = {count / took:7.0f} reports/s")
        mid = statistics.median(times)
        print(f"{count:6d} reports: median {mid:.2f} s = {count / mid:.0f} reports/s "
              f"(spread {min(times):.2f}-{max(times):.2f} s), load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
