"""A Linux report with its frames symbolised (file:line, inlined functions)
and the file to blame, as syzkaller's Symbolize leaves it."""

from __future__ import annotations

import dataclasses

from vmtui.backends.monitor.report.model import Report
from vmtui.backends.symbols.frames import Symbolizer
from vmtui.backends.symbols.guilty import guilty_file


def symbolized(report: Report, symbolizer: Symbolizer) -> Report:
    """``report`` with file:line on its frames and its guilty file (blocking:
    addr2line answers; call it in a thread from the event loop).

    Raises:
        SymbolsError: the ELF files cannot be read or addr2line cannot run.
    """
    lines = report.text.splitlines(keepends=True)
    head, body = "".join(lines[:report.prefix]), "".join(lines[report.prefix:])
    head, body = symbolizer.symbolize(head), symbolizer.symbolize(body)
    return dataclasses.replace(report, text=head + body, prefix=head.count("\n"),
                               guilty=guilty_file(str(report.title), body))
