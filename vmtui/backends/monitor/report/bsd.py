"""FreeBSD, OpenBSD and NetBSD reports: one table each. A BSD report is named
from its first line on: the patterns read down into the debugger's trace."""

from __future__ import annotations

from vmtui.backends.monitor.report.common_rules import FUZZER, GO_RUNTIME
from vmtui.backends.monitor.report.engine import Oops, fmt, oops

_KDB = r"(?:.*\n)+?KDB: stack backtrace:\n"
_FRAME = r"(?:[A-Za-z0-9_]+\(\) at [A-Za-z0-9_]+\+0x.*\n)*"  # "f() at f+0x12/0x40"

FREEBSD: tuple[Oops, ...] = (
    oops("Fatal trap", [
        fmt(r"Fatal trap (.+?)\n" + _KDB + r"(?:#\d+ @HEX@ at (?:kdb_backtrace|vpanic|panic|"
            r"trap_fatal|trap_pfault|trap|calltrap|m_copydata|__rw_wlock_hard)\+@HEX@\n)*"
            r"#\d+ @HEX@ at @FN@@HEX@", "Fatal trap {0} in {1}"),
        fmt(r"(Fatal trap \d+:.*) while in (?:user|kernel) mode\n" + _KDB + _FRAME +
            r"--- trap 0x[0-9a-fA-F]+.* ---\n([A-Za-z0-9_]+)\(\) at [A-Za-z0-9_]+\+0x.*\n",
            "{0} in {1}"),
    ]),
    oops("panic:", [
        fmt(r"panic: ffs_write: type @HEX@ \d+ \(\d+,\d+\)", "panic: ffs_write: type ADDR X (Y,Z)"),
        fmt(r"panic: ([A-Za-z]+[A-Za-z0-9_]*\(\)) of destroyed (mutex|rmlock|rwlock|sx) @ "
            r"/.*/(sys/.*:\d+)", "panic: {0} of destroyed {1} at {2}"),
        fmt(r"panic: No chunks on the queues for sid \d+\.\n",
            "panic: sctp: no chunks on the queues"),
        fmt(r"panic: size_on_all_streams = \d+ smaller than control length \d+\n",
            "panic: size_on_all_streams smaller than control length"),
        fmt(r"panic: sbflush_internal: ccc \d+ mb \d+ mbcnt \d+\n",
            "panic: sbflush_internal: residual data"),
        fmt(r"(panic: sx lock still held)\n" + _KDB + _FRAME + r"sx_destroy\(\) at [A-Za-z0-9_+/ ]+"
            r"\n([A-Za-z0-9_]+)\(\) at [A-Za-z0-9_+/ ]+\+0x.*\n", "{0} in {1}"),
        fmt(r"panic: pfi_dynaddr_setup: dyn is 0x[0-9a-f]+\n",
            "panic: pfi_dynaddr_setup: non-NULL dyn"),
        fmt(r"(panic: ASan: Invalid access, \d+-byte (?:read|write)) at @HEX@,.*\n"
            + _KDB + _FRAME +
            r"__asan_.*\(\) at [A-Za-z0-9_+/ ]+\n([A-Za-z0-9_]+)\(\) at [A-Za-z0-9_+/ ]+\+0x.*\n",
            "{0} in {1}"),
    ]),
    GO_RUNTIME, *FUZZER,
)

# ddb frames that are the report machinery or a memory helper, never the culprit.
_OB_SKIP = (r"(?:(?:panic|kerntrap|usertrap|alltraps\w*|savectx|db_enter|__asan_(?:load|store)\w*"
            r"|kasan_mem\w+|memcpy|memmove|memset|memcmp|bcmp|bcopy|bzero|kcopy|strcmp|strncmp"
            r"|strlcpy|strlcat|strlen|strnlen|strncpy|copyin\w*|copyout\w*)\([^\n]*\) at "
            r"[^\n]*\n)*")
_OB_FRAME = r"(?:.*\n)+?" + _OB_SKIP + r"([A-Za-z0-9_]+)\([^\n]*\) at [A-Za-z_]"
_OB_HELPERS = (r"(?:__asan_(?:load|store)(?:\d+|N)+_noabort|kasan_mem(?:cpy|move|set|cmp)|memcpy"
               r"|memmove|memset|memcmp|bcmp|bcopy|bzero|kcopy|strcmp|strncmp|strlcpy|strlcat"
               r"|strlen|strnlen|strncpy|copyin|copyinstr|copyout|copyoutstr)")

OPENBSD: tuple[Oops, ...] = (
    oops("cleaned vnode", [fmt(r"cleaned vnode: ", "panic: cleaned vnode isn't")]),
    oops("panic:", [
        fmt(r"(?:\nddb\{\d+\}> show panic(?s:.*?)[*]cpu\d+: )?Caught invalid memory access"
            r"(?s:.*?)\n(?:[^\n]* at " + _OB_HELPERS + r"\+0x[0-9a-f]+[^\n]*\n)+([A-Za-z0-9_]+)",
            "KASAN: invalid memory access in {0}"),
        fmt(r"\nddb\{\d+\}> show panic(?s:.*?)[*]cpu\d+: ([^\n]+)(?s:.*?)\nddb\{\d+\}> trace",
            "panic: {0}"),
        fmt(r"panic: kernel diagnostic assertion (.+) failed: file \".*/([^\"]+)",
            "assert {0} failed in {1}"),
        fmt(r"panic: Data modified on freelist: .* previous type ([^ ]+)",
            "malloc: free list modified: {0}"),
        fmt(r"panic: pool_cache_item_magic_check: ([^ ]+) cpu free list modified",
            "pool: cpu free list modified: {0}"),
        fmt(r"panic: pool_do_put: ([^:]+): double pool_put", "pool: double put: {0}"),
        fmt(r"panic: pool_do_get: ([^:]+) free list modified", "pool: free list modified: {0}"),
        fmt(r"panic: pool_p_free: ([^:]+) free list modified", "pool: free list modified: {0}"),
        fmt(r"panic: timeout_add: to_ticks \(.+\) < 0", "panic: timeout_add: to_ticks < 0"),
        fmt(r"panic: attempt to execute user address @HEX@ in supervisor mode",
            "panic: attempt to execute user address"),
        fmt(r"panic: unhandled af", "panic: unhandled af"),
        fmt(r"panic: (kqueue|knote).* ([a-z]+ .*)", "kqueue: {1}"),
        fmt(r"panic: receive (\d[a-z]*):", "soreceive {0}"),
    ]),
    oops("lock order reversal:", [
        fmt(r"lock order reversal:\n(?:.*\n)*lock order data .* missing",
            "witness: reversal: lock order data missing"),
        fmt(r"lock order reversal:\n+.*1st @HEX@ ([^ ]+).*\n.*2nd @HEX@ ([^ ]+)",
            "witness: reversal: {0} {1}"),
    ]),
    oops("witness:", [
        fmt(r"witness: thread @HEX@ exiting with the following locks held:",
            "witness: thread exiting with locks held"),
        fmt(r"witness: userret: returning with the following locks held:(.*\n)+?.*sys_"
            r"([a-z0-9_]+)\+", "witness: userret: {1}"),
        fmt(r"(witness: .*)", "{0}"),
    ]),
    oops("uvm_fault(", [
        fmt(r"uvm_fault\(" + _OB_FRAME, "uvm_fault: {0}",
            report=r"uvm_fault\(" + _OB_FRAME + r"(?:.*\n)+?.*end trace frame"),
        fmt(r"uvm_fault\((?:.*\n)+?.*Stopped at[ ]+@HEX@", "uvm_fault",
            report=r"uvm_fault\((?:.*\n)+?.*end trace frame"),
        fmt(r"uvm_fault\((?:.*\n)+?.*Stopped at[ ]+([^+]+)", "uvm_fault: {0}",
            report=r"uvm_fault(?:.*\n)+?.*Stopped at[ ]+([^+]+)(?:.*\n)+?.*end trace frame"),
        fmt(r"uvm_fault\(", "uvm_fault", corrupted=True),
    ]),
    oops("kernel:", [
        fmt(r"kernel: page fault trap" + _OB_FRAME, "uvm_fault: {0}"),
        fmt(r"kernel: protection fault trap" + _OB_FRAME, "protection_fault: {0}"),
        fmt(r"kernel: page fault trap, code=0.*\nStopped at[ ]+([^+]+)", "uvm_fault: {0}"),
        fmt(r"kernel: protection fault trap, code=0.*\nStopped at[ ]+([^+]+)",
            "protection_fault: {0}"),
    ], quiet=[r"reorder_kernel"]),
    GO_RUNTIME, *FUZZER,
)

NETBSD: tuple[Oops, ...] = (
    oops("fault in supervisor mode", [
        fmt(r"fatal (page|protection|integer divide) fault in supervisor mode", "{0} fault in {1}",
            report=r"fatal (page|protection|integer divide) fault in supervisor mode(?:.*\n)+?"
                   r".*Stopped in.*netbsd:([^\\+]+)"),
    ]),
    oops("panic: ", [
        fmt(r"panic: kernel diagnostic assertion", "assert failed: {0}",
            report=r"panic: kernel diagnostic assertion \"(.*?)\""),
        fmt(r"panic: lock error", "lock error in {0}",
            report=r"panic: lock error:(?:.*\n)+?.*?Begin traceback.*?\n(?:.*(?:panic|printf|"
                   r"lockdebug|abort|mutex).*\n)*.*?\](.*?)\("),
        fmt(r"ASan: Unauthorized Access", "ASan: Unauthorized Access in {0}",
            report=r"ASan: Unauthorized Access (?:.*\n)+(?:kasan|__asan).*\n(.*)\("),
        fmt(r"MSan: Uninitialized", "MSan: Uninitialized Memory in {0}",
            report=r"MSan: Uninitialized (?:.*\n)+(?:kmsan|__msan).*\n(.*)\("),
        fmt(r"UBSan: Undefined Behavior", "UBSan: Undefined Behavior in {0}",
            report=r"UBSan: Undefined Behavior (?:.*\n)+(?:Handle|__ubsan).*\n(.*)\("),
    ], quiet=[r"ddb\.onpanic:"]),
    oops("UBSan:", [fmt(r"UBSan:", "UBSan: Undefined behavior")]),
    GO_RUNTIME, *FUZZER,
)

# Lines that look like a report start but are another program's output.
IGNORED = {"netbsd": (r"event_init: unable to initialize",)}  # postfix
SUPPRESSED = {"openbsd": (
    r"panic: vop_generic_badop",
    r"witness: lock order reversal:\n(.*\n)*.*[0-9stnd]+ 0x[0-9a-f]+ inode(.*\n)*.*lock order .* "
    r"first seen at",
    r"panic:.*send disconnect: Broken pipe",
)}
