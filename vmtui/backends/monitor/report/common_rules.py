"""Reports every OS shares: the fuzzer's own failures (SYZFAIL, SYZFATAL), a Go
program's panic, and the Go runtime's fatal errors."""

from __future__ import annotations

from vmtui.backends.monitor.report.engine import fmt, oops

GO_RUNTIME = oops("fatal error:", [
    fmt(r"fatal error:", "go runtime error", no_trace=True),
], quiet=[r"ALSA", r"fatal error: cannot create timer"])

FUZZER = (
    oops("SYZFAIL:", [fmt(r"SYZFAIL:(.*)", "SYZFAIL:{0}", no_trace=True)]),
    oops("SYZFATAL:", [fmt(r"SYZFATAL:(.*)()", "SYZFATAL:{0}", alt=["SYZFATAL{1}"],
                           no_trace=True)]),
    oops("panic:", [
        fmt(r"panic: Sentry detected .* stuck task", "panic: Sentry detected stuck tasks",
            no_trace=True),
        fmt(r"panic:(.*)", "panic:{0}", no_trace=True),
    ], quiet=[r"_panic:", r"xlog_status:", r"ddb\.onpanic:", r"evtlog_status:"]),
)

# Output that marks a report as not worth filing (out of memory, say).
SUPPRESSED = (
    r"fatal error: runtime: out of memory", r"fatal error: runtime: cannot allocate memory",
    r"fatal error: out of memory", r"fatal error: newosproc", r"panic: .*cannot allocate memory",
)
