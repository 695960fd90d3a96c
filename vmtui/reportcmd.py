"""``vmtui report LOG``: the kernel reports in a saved console log."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_INPUT = 2


def _fail(message: str, status: int = 1) -> int:
    print(f"vmtui: {message}", file=sys.stderr)
    return status


def report_command(args: argparse.Namespace) -> int:
    """Print the reports of ``args.log``; exit status 1 when there is one, 2 on bad input."""
    import json

    from vmtui.backends.inert import inert
    from vmtui.backends.report import find_reports

    try:
        log = Path(args.log).read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        return _fail(f"{args.log}: {exc.strerror or exc}", EXIT_INPUT)
    reports = find_reports(log, args.os)
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=2))  # escapes controls
    else:
        for r in reports:  # guest text: every line inert on the way to the terminal
            broken = f"yes ({r.reason})" if r.corrupted else "no"
            print(f"{r.title}\n  kind: {r.kind}  corrupted: {broken}  lines: {r.line + 1}"
                  f"-{r.end + 1}{'  suppressed' if r.suppressed else ''}")
            print("".join(f"  alt: {alt}\n" for alt in r.alts), end="")
            print("".join(f"  | {inert(line)}\n" for line in r.text.splitlines()), end="")
        if not reports:
            print(f"{args.log}: no kernel report found")
    return 1 if reports else 0
