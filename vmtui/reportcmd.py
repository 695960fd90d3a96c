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
    from vmtui.backends.symbols.frames import Symbolizer

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
    if r.guilty:
        alts += f"  guilty file: {inert(r.guilty)}\n"
    # guest text: every line inert on the way to the terminal
    return head + alts + "".join(f"  | {inert(line)}\n" for line in r.text.splitlines())


def _symbolizer(args: argparse.Namespace) -> Symbolizer | None:
    """The Symbolizer of --vmlinux and --module, its files checked first.

    Raises:
        SymbolsError: a file is missing or not an ELF file with symbols.
    """
    from pathlib import Path

    from vmtui.backends.symbols.frames import Symbolizer
    from vmtui.backends.symbols.symtab import SymbolsError

    if args.vmlinux is None:
        if args.module:
            raise SymbolsError("--module: needs --vmlinux (the kernel it was built for)")
        return None
    if args.os != "linux":
        raise SymbolsError(f"--vmlinux: symbolising is for Linux reports, not {args.os}")
    symbolizer = Symbolizer(Path(args.vmlinux), [Path(m) for m in args.module])
    for module in symbolizer.files:
        symbolizer.table(module)  # an unreadable file is said before the log is read
    return symbolizer


def report_command(args: argparse.Namespace) -> int:
    """Print the reports of ``args.log``; exit status 1 when there is one, 2 on bad input."""
    from vmtui.backends.monitor.report import ReportScanner
    from vmtui.backends.symbols.symtab import SymbolsError

    try:
        ReportScanner(args.os)  # an unknown OS is refused before the log is opened
        symbolizer = _symbolizer(args)
    except (ValueError, SymbolsError) as exc:
        return _fail(str(exc), EXIT_INPUT)
    try:
        return _print_reports(args, symbolizer)
    finally:
        if symbolizer is not None:
            symbolizer.close()


def _print_reports(args: argparse.Namespace, symbolizer: Symbolizer | None) -> int:
    from vmtui.backends.monitor.report import read_text, scan_text
    from vmtui.backends.monitor.report.symbolized import symbolized

    name = "standard input" if args.log == "-" else args.log
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
                if symbolizer is not None:
                    report = symbolized(report, symbolizer)
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
