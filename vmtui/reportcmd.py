"""``vmtui report LOG``: the kernel reports in a saved console log.

LOG is a file, a FIFO, or ``-`` for standard input (``dmesg | vmtui report -``).
It is read as a stream, in blocks, so a log of any size takes bounded memory
(``backends.monitor.report.stream``); each report is printed once the log's end has
said whether it is suppressed (or once the reports waiting pass a bound).
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import threading
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from vmtui.backends.monitor.report import Report

EXIT_INPUT = 2
WAIT_NOTE_SECONDS = 0.5  # a FIFO that has no writer by then is said to be waiting


def _fail(message: str, status: int = 1) -> int:
    print(f"vmtui: {message}", file=sys.stderr)
    return status


def _open_fifo(path: str) -> BinaryIO:
    """Open a FIFO for reading: it blocks until a writer opens it, so say so
    when that takes a moment (Ctrl-C still ends the wait)."""
    note = threading.Timer(WAIT_NOTE_SECONDS, lambda: print(
        f"vmtui: waiting for a writer on FIFO {path} (Ctrl-C to stop)",
        file=sys.stderr, flush=True))
    note.daemon = True
    note.start()
    try:
        return open(path, "rb")
    finally:
        note.cancel()


def open_log(path: str) -> BinaryIO:
    """The log's bytes: standard input for ``-``, else the file or FIFO at ``path``."""
    if path == "-":
        if sys.stdin.isatty():
            print("vmtui: reading a log from the terminal; end it with Ctrl-D",
                  file=sys.stderr, flush=True)
        return sys.stdin.buffer
    if stat.S_ISFIFO(os.stat(path).st_mode):
        return _open_fifo(path)
    return open(path, "rb")


def _text_lines(r: Report) -> str:
    from vmtui.backends.inert import inert

    broken = f"yes ({r.reason})" if r.corrupted else "no"
    head = (f"{r.title}\n  kind: {r.kind}  corrupted: {broken}  lines: {r.line + 1}"
            f"-{r.end + 1}{'  suppressed' if r.suppressed else ''}\n")
    alts = "".join(f"  alt: {alt}\n" for alt in r.alts)
    # guest text: every line inert on the way to the terminal
    return head + alts + "".join(f"  | {inert(line)}\n" for line in r.text.splitlines())


def report_command(args: argparse.Namespace) -> int:
    """Print the reports of ``args.log``; exit status 1 when there is one, 2 on bad input."""
    from vmtui.backends.monitor.report import ReportScanner, read_text, scan_text

    name = "standard input" if args.log == "-" else args.log
    try:
        ReportScanner(args.os)  # an unknown OS is refused before the log is opened
    except ValueError as exc:
        return _fail(str(exc), EXIT_INPUT)
    try:
        stream = open_log(args.log)
    except OSError as exc:
        return _fail(f"{args.log}: {exc.strerror or exc}", EXIT_INPUT)
    except KeyboardInterrupt:
        return 130
    found = 0
    try:
        with stream:
            for report in scan_text(read_text(stream), args.os):
                if args.json:  # one JSON list, written as it grows; json escapes controls
                    item = json.dumps(report.as_dict(), indent=2).replace("\n", "\n  ")
                    sys.stdout.write(f"{'[' if not found else ','}\n  {item}")
                else:
                    sys.stdout.write(_text_lines(report))
                found += 1
        if args.json:
            print("\n]" if found else "[]")
        elif not found:
            print(f"{name}: no kernel report found")
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # `vmtui report LOG | head`: cli.py ends quietly, as SIGPIPE would
    except OSError as exc:  # a read that failed (EIO, a directory given as LOG)
        return _fail(f"{name}: {exc.strerror or exc}", EXIT_INPUT)
    except KeyboardInterrupt:
        return 130
    return 1 if found else 0
