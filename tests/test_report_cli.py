"""``vmtui report`` as users run it (issue #23, item 2): standard input, a
FIFO with and without a writer, and a big log read in bounded memory. Each
test runs the real command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.test_report_stream import TITLE, flood

REPORT = [sys.executable, "-m", "vmtui", "report"]
ORDINARY = ("[{:12.6f}] virtio_net virtio0 eth0: link up, speed 10000 Mb/s, "
            "full duplex on the console of the test guest\n")


def test_dash_reads_standard_input() -> None:
    log = ORDINARY.format(1.0) + flood(2)
    done = subprocess.run([*REPORT, "-"], input=log, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stdout.count(f"{TITLE}\n  kind: WARNING") == 2
    as_json = subprocess.run([*REPORT, "--json", "-"], input=log, capture_output=True,
                             text=True, timeout=60)
    assert [r["title"] for r in json.loads(as_json.stdout)] == [TITLE, TITLE]
    clean = subprocess.run([*REPORT, "-"], input=ORDINARY.format(1.0), capture_output=True,
                           text=True, timeout=60)
    assert (clean.returncode, clean.stdout) == (0, "standard input: no kernel report found\n")
    empty = subprocess.run([*REPORT, "--json", "-"], input="", capture_output=True, text=True,
                           timeout=60)
    assert (empty.returncode, json.loads(empty.stdout)) == (0, [])


def test_a_fifo_without_a_writer_says_it_waits_then_reads_the_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "console.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen([*REPORT, str(fifo)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.0)  # no writer yet: the command must not sit there silently
        assert proc.poll() is None
        with fifo.open("w") as writer:  # a writer comes; the log arrives in two pieces
            writer.write(ORDINARY.format(1.0) + flood(1)[:500])
            writer.flush()
            time.sleep(0.2)
            writer.write(flood(1)[500:])
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert f"vmtui: waiting for a writer on FIFO {fifo}" in err
    assert proc.returncode == 1 and out.startswith(f"{TITLE}\n"), (out, err)


def _peak_rss_kb(log: Path) -> tuple[int, str]:
    proc = subprocess.Popen([*REPORT, str(log)], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 1, out
    return usage.ru_maxrss, out


def test_a_big_log_is_read_in_bounded_memory(tmp_path: Path) -> None:
    # 64 MB of ordinary lines with a WARNING at the end: the command's peak RSS
    # grows by less than a quarter of the log over what a tiny log costs.
    # Before #23 the whole file was read, decoded and split: well over 64 MB more.
    tiny, big = tmp_path / "tiny.log", tmp_path / "big.log"
    tiny.write_text(ORDINARY.format(1.0) + flood(1))
    lines_per_mb = 1_000_000 // len(ORDINARY.format(1.0))
    with big.open("w") as out:
        clock = 0.0
        for _ in range(64):
            out.write("".join(ORDINARY.format(clock + i * 1e-4) for i in range(lines_per_mb)))
            clock += lines_per_mb * 1e-4
        out.write(flood(1))
    size_mb = big.stat().st_size / 1e6
    assert size_mb > 60
    base, _ = _peak_rss_kb(tiny)
    peak, out = _peak_rss_kb(big)
    assert out.startswith(f"{TITLE}\n")
    grew_mb = (peak - base) / 1024
    assert grew_mb < size_mb / 4, f"peak RSS grew {grew_mb:.0f} MB on a {size_mb:.0f} MB log"
