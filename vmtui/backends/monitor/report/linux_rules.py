"""Linux's report table: each oops (the literal that starts a report) and the
formats that title it as syzkaller does. Templates take the pattern's groups
first, then the guilty frame of each trace the stack walks ({0}, {1}, ...).
"""

from __future__ import annotations

from vmtui.backends.monitor.report.common_rules import FUZZER, GO_RUNTIME
from vmtui.backends.monitor.report.engine import TRACE, Oops, Picker, Stack, fmt, oops, rx
from vmtui.backends.monitor.report.linux_frames import CALL_TRACE, RIP, hang_frame, stall_frame


def _ct(*skip: str, pick: Picker | None = None) -> Stack:
    return Stack((CALL_TRACE, TRACE), skip=skip, pick=pick)


def _rip(*skip: str, pick: Picker | None = None) -> Stack:
    return Stack((RIP, CALL_TRACE, TRACE), skip=skip, pick=pick)


_WARN_TOP = rx(f"(?:{RIP.pattern}|--- interrupt: \\d+ at @FN@)")


def _warn(*skip: str) -> Stack:
    """A WARNING's stack: from the RIP line (newer kernels), or the call trace."""
    return Stack((_WARN_TOP, TRACE), fallback=(CALL_TRACE, TRACE), skip=skip)


_AT = r"(?:.*\n)+?.*at: (?:@PC@ +)?@FN@"  # ... the first "at: func+0x.." line below
_BAD = ["bad-access in {0}"]

_BUG = oops("BUG:", [
    fmt(r"BUG: KASAN:", "KASAN: {0} {2} in {3}", alt=["bad-access in {3}"],
        report=r"BUG: KASAN: ([a-z-]+) in @FN@(?:.*\n)+?.*(Read|Write) (?:of size|at addr) "
               r"(?:[0-9a-f]+)",
        stack=Stack((rx(r"BUG: KASAN: (?:[a-z-]+) in @FN@"), CALL_TRACE, TRACE),
                    skip=("kernel_fault", "tag_check", "mem_abort", "^el1_", "^el1h_"))),
    fmt(r"BUG: KASAN:", "KASAN: invalid-free in {1}", alt=["invalid-free in {1}"],
        report=r"BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in @FN@",
        stack=Stack((rx(r"BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free)"
                        r" in @FN@"), CALL_TRACE, TRACE),
                    skip=("slab_", "kfree", "vunmap", "vfree"))),
    fmt(r"BUG: KASAN: ([a-z-]+) on address(?:.*\n)+?.*(Read|Write) of size (\d+)",
        "KASAN: {0} {1}"),
    fmt(r"BUG: KASAN: (.*)", "KASAN: {0}", corrupted=True),
    fmt(r"BUG: KMSAN: kernel-usb-infoleak", "KMSAN: kernel-usb-infoleak in {1}",
        report=r"BUG: KMSAN: kernel-usb-infoleak in @FN@", alt=["KMSAN origin in {2}"],
        no_trace=True,
        stack=Stack((TRACE, rx(r"(Local variable .* created at:|Uninit was created at:)"), TRACE),
                    skip=("alloc_skb", "usb_submit_urb", "usb_start_wait_urb", "usb_bulk_msg",
                          "usb_interrupt_msg", "usb_control_msg"))),
    fmt(r"BUG: KMSAN:", "KMSAN: {0} in {2}", report=r"BUG: KMSAN: ([a-z-]+) in @FN@",
        alt=["bad-access in {2}"], no_trace=True,
        stack=Stack((TRACE, rx(r"(Local variable .* created at:|Uninit was created at:)"), TRACE),
                    skip=("alloc_skb", "netlink_ack", "netlink_rcv_skb", "_encrypt$",
                          "^(?:crypto|cipher|drbg|rng)_"))),
    fmt(r"BUG: KCSAN:", "KCSAN: {0}", report=r"BUG: KCSAN: (.*)", no_trace=True),
    fmt(r"BUG: KFENCE: (use-after-free|out-of-bounds) (read|write) in @FN@",
        "KFENCE: {0} {1} in {3}", alt=["bad-access in {3}"],
        stack=Stack((rx(r"BUG: KFENCE: (?:[a-z -]+) in @FN@"), TRACE))),
    fmt(r"BUG: KFENCE: invalid free in @FN@", "KFENCE: invalid free in {1}",
        alt=["invalid-free in {1}"], no_trace=True,
        stack=Stack((rx(r"BUG: KFENCE: (?:[a-z -]+) in @FN@"), TRACE))),
    fmt(r"BUG: KFENCE: invalid (read|write) in @FN@", "KFENCE: invalid {0} in {2}",
        alt=["bad-access in {2}"], stack=Stack((rx(r"BUG: KFENCE: (?:[a-z -]+) in @FN@"), TRACE))),
    fmt(r"BUG: KFENCE: memory corruption in @FN@", "KFENCE: memory corruption in {1}",
        no_trace=True, stack=Stack((rx(r"BUG: KFENCE: (?:[a-z -]+) in @FN@"), TRACE))),
    fmt(r"BUG: (?:unable to handle kernel paging request|unable to handle page fault for "
        r"address|Unable to handle kernel data access)",
        "BUG: unable to handle kernel paging request in {0}", alt=_BAD, stack=_rip()),
    fmt(r"BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer "
        r"dereference|Kernel NULL pointer dereference)",
        "BUG: unable to handle kernel NULL pointer dereference in {0}", alt=_BAD, stack=_rip()),
    fmt(r"BUG: (?:unable to handle kernel|Unable to handle kernel)",
        "BUG: unable to handle kernel", corrupted=True),
    fmt(r"BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|cpu recursion"
        r"|bad magic|wrong owner|wrong CPU|trylock failure on UP)", "BUG: {0} {1} in {2}",
        stack=_ct("spin_", "_lock", "_unlock")),
    fmt(r"BUG: soft lockup", "BUG: soft lockup in {0}", alt=["stall in {0}"],
        stack=_rip(pick=stall_frame)),
    fmt(r"BUG: .*still has locks held!", "BUG: still has locks held in {0}",
        report=r"BUG: .*still has locks held!(?:.*\n)+?.*@PC@ +@FN@"),
    fmt(r"BUG: scheduling while atomic", "BUG: scheduling while atomic in {0}",
        stack=_ct("schedule")),
    fmt(r"BUG: lock held when returning to user space",
        "BUG: lock held when returning to user space in {0}", no_trace=True,
        report=r"BUG: lock held when returning to user space(?:.*\n)+?.*leaving the kernel "
               r"with locks still held" + _AT),
    fmt(r"BUG: bad unlock balance detected!", "BUG: bad unlock balance in {0}",
        stack=Stack((rx(r"@PC@ +@FN@"), CALL_TRACE, TRACE))),
    fmt(r"BUG: held lock freed!", "BUG: held lock freed in {0}",
        report=r"BUG: held lock freed!(?:.*\n)+?.*@PC@ +@FN@"),
    fmt(r"BUG: Bad rss-counter state", "BUG: Bad rss-counter state", no_trace=True),
    fmt(r"BUG: non-zero nr_ptes on freeing mm", "BUG: non-zero nr_ptes on freeing mm",
        no_trace=True),
    fmt(r"BUG: non-zero nr_pmds on freeing mm", "BUG: non-zero nr_pmds on freeing mm",
        no_trace=True),
    # The file system type and block device are left out: loop0/1/2 would split one bug.
    fmt(r"BUG: Dentry .* still in use", "BUG: Dentry still in use in {0}",
        report=r"BUG: Dentry .* still in use \(\d+\) \[(unmount) of ([^\]]+)\]",
        alt=["BUG: Dentry still in use [{0} of {1}]"]),
    fmt(r"BUG: Bad page (state|cache)", "BUG: Bad page {0} in {1}",
        stack=Stack((rx(r"page last allocated"), TRACE),
                    skip=("(free|put|get|update|release)_page", "free_unref", "^_*folio",
                          "truncate_inode_pages", "page_frag_free", "alloc", "vmap",
                          "page_owner"))),
    fmt(r"BUG: Bad page map", "BUG: Bad page map"),
    fmt(r"BUG: workqueue lockup", "BUG: workqueue lockup", no_trace=True),
    fmt(r"BUG: sleeping function called from invalid context at (.*)",
        "BUG: sleeping function called from invalid context in {1}", stack=_ct()),
    fmt(r"BUG: using ([a-z_]+)\(\) in preemptible", "BUG: using {0}() in preemptible code in {1}",
        stack=_ct("dump_stack", "preemption", "preempt", "debug_", "processor_id", "this_cpu")),
    fmt(r"BUG: workqueue leaked lock or atomic", "BUG: workqueue leaked lock or atomic in {0}",
        report=r"BUG: workqueue leaked lock or atomic(?:.*\n)+?.*last function: "
               r"([A-Za-z0-9_]+)\n", no_trace=True),
    fmt(r"BUG: memory leak", "memory leak in {0}",
        stack=Stack((rx(r"backtrace(?: \(crc [0-9a-fA-F]*\))?:"), TRACE),
                    skip=("kmemleak", "mmap", "kmem", "slab", "alloc", "create_object",
                          "idr_get", "list_lru_init", "kasprintf", "kvasprintf", "pcpu_create",
                          "strdup", "strndup", "memdup"))),
    fmt(r"BUG: .*stack guard page was hit at", "BUG: stack guard page was hit in {0}",
        alt=["stack-overflow in {0}"], stack=_rip(pick=stall_frame)),
    # arm's form of amd64's lockdep warning, titled alike.
    fmt(r"BUG: Invalid wait context", "WARNING: locking bug in {0}",
        stack=_ct("lock_sock", "release_sock")),
    fmt(r"BUG:\s*(?:\n|$)", "BUG: corrupted", corrupted=True),
], quiet=[r"ODEBUG:", r"Boot_DEBUG:", r"xlog_status:", r"DEBUG:",
          r"BUG: no syscalls can create resource"])

_WARNING = oops("WARNING:", [
    fmt(r"WARNING: .*lib/debugobjects\.c.* (?:debug_print|debug_check|at)",
        "WARNING: ODEBUG bug in {0}",
        stack=_warn("debug_", "rcu", "hrtimer_", "timer_", "work_", "percpu_", "vunmap", "vfree",
                    "__free_", "debug_check", "kobject_")),
    fmt(r"WARNING: .*mm/usercopy\.c.* (?:usercopy_warn|at)", "WARNING: bad usercopy in {0}",
        stack=_warn("usercopy", "__check")),
    fmt(r"WARNING: .*lib/kobject\.c.* (?:kobject_|at)", "WARNING: kobject bug in {0}",
        stack=_warn("kobject_")),
    fmt(r"WARNING: .*fs/proc/generic\.c.* (?:proc_register|at)",
        "WARNING: proc registration bug in {0}", stack=_warn("proc_")),
    fmt(r"WARNING: .*lib/refcount\.c.* (?:refcount_|at)", "WARNING: refcount bug in {0}",
        stack=_warn("refcount", "kobject_")),
    fmt(r"WARNING: .*kernel/locking/lockdep\.c.*lock_", "WARNING: locking bug in {0}",
        stack=_warn("lock_sock", "release_sock")),
    fmt(r"WARNING: .*still has locks held!", "WARNING: still has locks held in {0}",
        report=r"WARNING: .*still has locks held!(?:.*\n)+?.*at: @FN@"),
    fmt(r"WARNING: Nested lock was not taken", "WARNING: nested lock was not taken in {0}",
        stack=_warn()),
    fmt(r"WARNING: lock held when returning to user space",
        "WARNING: lock held when returning to user space in {0}", no_trace=True,
        report=r"WARNING: lock held when returning to user space(?:.*\n)+?.*leaving the "
               r"kernel with locks still held" + _AT),
    fmt(r"WARNING: .*mm/.*\.c.* k?.?malloc", "WARNING: kmalloc bug in {0}",
        stack=_warn("kmalloc", "krealloc", "slab", "kmem")),
    fmt(r"WARNING: .*mm/vmalloc.c.*__vmalloc_node", "WARNING: zero-size vmalloc in {0}",
        stack=_warn()),
    fmt(r"WARNING: .* usb_submit_urb", "WARNING in {0}/usb_submit_urb",
        stack=_warn("usb_submit_urb", "usb_start_wait_urb", "usb_bulk_msg", "usb_interrupt_msg",
                    "usb_control_msg")),
    fmt(r"WARNING: @SRC@ at 0x\d+, CPU#\d+", "WARNING in {1}", stack=_warn()),  # one-line form
    fmt(r"WARNING: .* at @SRC@ @FN@", "WARNING in {2}", stack=_warn()),
    fmt(r"WARNING: @SRC@ at @FN@", "WARNING in {2}", stack=_warn()),
    fmt(r"WARNING: \[.*\] @SRC@ at @FN@.*", "WARNING in {2}", stack=_warn()),
    fmt(r"WARNING: possible circular locking dependency detected", "possible deadlock in {0}",
        report=r"WARNING: possible circular locking dependency detected(?:.*\n)+?.*is trying "
               r"to acquire lock",
        stack=Stack((rx(r"at: (?:@PC@ +)?@FN@"), rx(r"at: (?:@PC@ +)?@FN@"), TRACE),
                    skip=("process_one_work", "flush_workqueue", "drain_workqueue",
                          "destroy_workqueue"))),
    fmt(r"WARNING: possible irq lock inversion dependency detected", "possible deadlock in {0}",
        report=r"WARNING: possible irq lock inversion dependency detected(?:.*\n)+?.*just "
               r"changed the state of lock" + _AT),
    fmt(r"WARNING: .*-safe -> .*-unsafe lock order detected", "possible deadlock in {0}",
        stack=Stack((rx(r"which became (?:.*) at:"), TRACE))),
    fmt(r"WARNING: possible recursive locking detected", "possible deadlock in {0}",
        report=r"WARNING: possible recursive locking detected(?:.*\n)+?.*is trying to acquire "
               r"lock" + _AT),
    fmt(r"WARNING: inconsistent lock state", "inconsistent lock state in {1}",
        report=r"WARNING: inconsistent lock state(?:.*\n)+?.*takes" + _AT, stack=_ct()),
    fmt(r"WARNING: suspicious RCU usage", "WARNING: suspicious RCU usage in {1}",
        report=r"WARNING: suspicious RCU usage(?:.*\n)+?.*?@SRC@",
        stack=_ct("rcu", "kmem", "slab")),
    fmt(r"WARNING: kernel stack regs at [0-9a-f]+ in [^ ]* has bad '([^']+)' value",
        "WARNING: kernel stack regs has bad '{0}' value", no_trace=True),
    fmt(r"WARNING: kernel stack frame pointer at [0-9a-f]+ in [^ ]* has bad value",
        "WARNING: kernel stack frame pointer has bad value", no_trace=True),
    fmt(r"WARNING: bad unlock balance detected!", "WARNING: bad unlock balance in {0}",
        stack=Stack((rx(r"@PC@ +@FN@"), CALL_TRACE, TRACE))),
    fmt(r"WARNING: held lock freed!", "WARNING: held lock freed in {0}",
        report=r"WARNING: held lock freed!(?:.*\n)+?.*at:(?: @PC@)? +@FN@"),
    fmt(r"WARNING: kernel stack regs .* has bad 'bp' value",
        "WARNING: kernel stack regs has bad value", no_trace=True),
    fmt(r"WARNING: kernel stack frame pointer .* has bad value",
        "WARNING: kernel stack regs has bad value", no_trace=True),
    fmt(r"WARNING:\s*(?:\n|$)", "WARNING: corrupted", corrupted=True),
], quiet=[  # notices, not bugs: sshd, mitigations, deprecated options, file systems
    r"WARNING: /etc/ssh/moduli does not exist, using fixed modulus",
    r"WARNING: workqueue cpumask: online intersect > possible intersect",
    r"WARNING: [Tt]he mand mount option",
    r"WARNING: Unsupported flag value\(s\) of 0x%x in DT_FLAGS_1",
    r"WARNING: Unprivileged eBPF is enabled with eIBRS",
    r"WARNING: fbcon: Driver '(.*)' missed to adjust virtual screen size",
    r"WARNING: See https.* for mitigation options.", r"WARNING: kernel not compiled with CPU_SRSO",
    r"EXT4-[Ff][Ss](?: \(.*\))?:", r"(?i)warning: .* uses (deprecated v2 capabilities|wireless "
    r"extensions)", r"XFS \(\w+\): WARNING",
])

_LOCKDEP_AT = r"(?:.*\n)+?.*at: @PC@ +@FN@"
_INFO = oops("INFO:", [
    fmt(r"INFO: possible circular locking dependency detected", "possible deadlock in {0}",
        report=r"INFO: possible circular locking dependency detected \](?:.*\n)+?.*is trying to "
               r"acquire lock" + _LOCKDEP_AT),
    fmt(r"INFO: possible irq lock inversion dependency detected", "possible deadlock in {0}",
        report=r"INFO: possible irq lock inversion dependency detected \](?:.*\n)+?.*just "
               r"changed the state of lock" + _LOCKDEP_AT),
    fmt(r"INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected", "possible deadlock in {0}",
        report=r"INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected \](?:.*\n)+?.*is "
               r"trying to acquire" + _LOCKDEP_AT),
    fmt(r"INFO: possible recursive locking detected", "possible deadlock in {0}",
        report=r"INFO: possible recursive locking detected \](?:.*\n)+?.*is trying to acquire "
               r"lock" + _LOCKDEP_AT),
    fmt(r"INFO: inconsistent lock state", "inconsistent lock state in {0}",
        report=r"INFO: inconsistent lock state \](?:.*\n)+?.*takes" + _LOCKDEP_AT),
    fmt(r"INFO: rcu_(?:preempt|sched|bh|tasks) (?:self-)?detected(?: expedited)? stall",
        "INFO: rcu detected stall in {0}", alt=["stall in {0}"],
        stack=Stack((rx(r"apic_timer_interrupt"), RIP, TRACE),
                    fallback=(rx(r"(?:apic_timer_interrupt|Exception stack|el1h_64_irq)"), TRACE),
                    skip=("apic_timer_interrupt", "rcu"), pick=stall_frame)),
    fmt(r"INFO: trying to register non-static key",
        "INFO: trying to register non-static key in {0}", stack=_ct("stack", "lock", "IRQ")),
    fmt(r"INFO: suspicious RCU usage", "INFO: suspicious RCU usage in {1}",
        report=r"INFO: suspicious RCU usage(?:.*\n)+?.*?@SRC@", stack=_ct("rcu", "kmem", "slab")),
    fmt(r"INFO: task @TASK@ blocked (?:in I/O wait )?for more than \d+ seconds",
        "INFO: task hung in {0}", alt=["hang in {0}"], stack=_ct(pick=hang_frame)),
    fmt(r"INFO: task @TASK@ can't die for more than .* seconds", "INFO: task can't die in {0}",
        alt=["hang in {0}"], stack=_ct("schedule")),
    # What an old KASAN report leaves when its header is lost.
    fmt(r"INFO: (Freed|Allocated) in (.*)", "INFO: {0} in {1}", corrupted=True),
    fmt(r"INFO:\s*(?:\n|$)", "INFO: corrupted", corrupted=True),
], quiet=[r"INFO: lockdep is turned off", r"INFO: Stall ended before state dump start",
          r"INFO: NMI handler", r"INFO: recovery required on readonly filesystem",
          r"(handler|interrupt).*took too long", r"INFO: sys_.* is not present in /proc/kallsyms",
          r"INFO: no syscalls can create resource", r"rmt_storage:INFO:", r"_INFO:"])

_PANIC = oops("Kernel panic", [
    fmt(r"Kernel panic - not syncing: stack-protector:", "kernel panic: stack is corrupted in {0}",
        report=r"Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: @FN@",
        no_trace=True),
    fmt(r"Kernel panic - not syncing: stack-protector:", "kernel panic: stack is corrupted in {0}",
        report=r"Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: "
               r"[a-f0-9]+", stack=_ct("stack_chk")),
    fmt(r"Kernel panic - not syncing: corrupted stack end", "kernel panic: corrupted stack end in "
        "{0}", report=r"Kernel panic - not syncing: corrupted stack end detected inside scheduler",
        alt=["stack-overflow in {0}"], stack=_ct("schedule", "retint_kernel", pick=stall_frame)),
    fmt(r"Kernel panic - not syncing: kernel stack overflow", "kernel stack overflow in {0}",
        alt=["stack-overflow in {0}"], stack=_ct("bad_stack", pick=stall_frame)),
    fmt(r"Kernel panic - not syncing: Attempted to kill init!",
        "kernel panic: Attempted to kill init!"),
    fmt(r"Kernel panic - not syncing: Couldn't open N_TTY ldisc for [^ ]+ --- error -\d+",
        "kernel panic: Couldn't open N_TTY ldisc"),
    # These follow another report: alone, they mean its header was lost.
    fmt(r"Kernel panic - not syncing: Fatal exception", "kernel panic: Fatal exception",
        corrupted=True),
    fmt(r"Kernel panic - not syncing: panic_on_warn set", "kernel panic: panic_on_warn set",
        corrupted=True),
    fmt(r"Kernel panic - not syncing: hung_task: blocked tasks",
        "kernel panic: hung_task: blocked tasks", corrupted=True),
    fmt(r"Kernel panic - not syncing: (.*)", "kernel panic: {0}"),
])


def _one(header: str, title: str, template: str, stack: Stack | None = None,
         alt: list[str] | None = None, no_trace: bool = False, quiet: tuple[str, ...] = ()) -> Oops:
    return oops(header, [fmt(title, template, stack=stack, alt=alt or (), no_trace=no_trace)],
                quiet=quiet)


_AT_RIP = Stack((RIP,))

LINUX_OOPSES: tuple[Oops, ...] = (
    _BUG, _WARNING, _INFO,
    oops("Unable to handle kernel", [
        fmt(r"Unable to handle kernel (paging request|NULL pointer dereference|access to user "
            r"memory)", "BUG: unable to handle kernel {0} in {1}", alt=["bad-access in {1}"],
            stack=_rip())]),
    _one("general protection fault", r"general protection fault.*:",
         "general protection fault in {0}", _rip(), _BAD,
         quiet=(r"general protection fault .* error:\d+ in ",)),  # a user program's segfault
    _one("stack segment: ", r"stack segment: ", "stack segment fault in {0}", _rip()),
    _PANIC,
    _one("PANIC: double fault", r"PANIC: double fault", "PANIC: double fault in {0}", _AT_RIP),
    oops("rust_kernel: panicked", [
        fmt(r"rust_kernel: panicked", "{0} in {1}",
            report=r"rust_kernel: panicked at [^\n]*?\n(.+?)\n",
            stack=_ct(r"__rustc::rust_begin_unwind"))]),
    oops("kernel BUG", [
        fmt(r"kernel BUG at mm/usercopy.c", "BUG: bad usercopy in {0}",
            stack=_ct("usercopy", "__check")),
        fmt(r"kernel BUG at lib/list_debug.c", "BUG: corrupted list in {0}", alt=_BAD,
            stack=_ct()),
        # skb helpers hold many BUG_ONs; the bug is in their caller.
        fmt(r"kernel BUG at (.*)", "kernel BUG in {1}", stack=_rip("^skb_")),
    ]),
    _one("Kernel BUG", r"Kernel BUG (.*)", "kernel BUG {0}"),
    _one("BUG kmalloc-", r"BUG kmalloc-.*: Object already free", "BUG: Object already free"),
    _one("divide error:", r"divide error: ", "divide error in {0}", _AT_RIP),
    _one("divide_error:", r"divide_error: ", "divide error in {0}", _AT_RIP),  # a 5.9 misspelling
    _one("invalid opcode:", r"invalid opcode: ", "invalid opcode in {0}", _AT_RIP),
    _one("int3:", r"int3: ", "int3 in {0}", _rip()),
    oops("UBSAN:", [
        fmt(r"UBSAN:", "UBSAN: undefined-behaviour in {0}", report=r"UBSAN: Undefined behaviour in",
            stack=_ct("ubsan", "overflow")),
        fmt(r"UBSAN: array-index-out-of-bounds in", "UBSAN: array-index-out-of-bounds in {0}",
            alt=_BAD, stack=_ct("ubsan", "overflow")),
        fmt(r"UBSAN:", "UBSAN: {0} in {1}", report=r"UBSAN: (.*?) in",
            stack=_ct("ubsan", "overflow")),
    ]),
    _one("Booting the kernel.", r"^Booting the kernel", "unexpected kernel reboot", no_trace=True,
         # the fuzzer feeding boot text back as a mount option is no reboot
         quiet=(r"Parsing ELF|Decompressing Linux|Unknown parameter '",)),
    _one("unregister_netdevice: waiting for", r"unregister_netdevice: waiting for (?:.*) to "
         r"become free", "unregister_netdevice: waiting for DEV to become free", no_trace=True),
    _one("VFS: Close: file count is 0", r"VFS: Close: file count is 0",
         "VFS: Close: file count is zero (use-after-free)", no_trace=True),
    _one("VFS: Busy inodes after unmount", r"VFS: Busy inodes after unmount",
         "VFS: Busy inodes after unmount (use-after-free)", no_trace=True),
    _one("Internal error:", r"Internal error:", "Internal error in {0}", _rip(), _BAD),
    _one("Unhandled fault:", r"Unhandled fault:", "Unhandled fault in {0}", _rip(), _BAD),
    _one("Alignment trap:", r"Alignment trap:", "Alignment trap in {0}", _rip()),
    oops("trusty: panic", [
        fmt(r"trusty: panic.* ASSERT FAILED", "trusty: ASSERT FAILED: {0}", no_trace=True,
            report=r"trusty: panic \(.*?\):(?: DEBUG)? ASSERT FAILED at \(.*?\): (.+)"),
        fmt(r"trusty: panic.* ASSERT FAILED.*: *(.*)", "trusty: ASSERT FAILED: {0}",
            corrupted=True),
        fmt(r"trusty: panic", "trusty: panic: {0}", report=r"trusty: panic \(.*?\): (.+)",
            no_trace=True),
    ]),
    GO_RUNTIME,
    *FUZZER,
)

# Lines that match an oops but do not start a new report inside another one.
CONTINUES = tuple(rx(p) for p in (
    r"invalid opcode: 0000", r"Kernel panic - not syncing", r"unregister_netdevice: waiting for",
    r"PANIC: double fault", r"Internal error:"))
# Messages that are no bug but carry a stack: inside a report, they end its text.
WITH_STACK = ("vmalloc: allocation failure:", "FAULT_INJECTION: forcing a failure",
              "FAULT_FLAG_ALLOW_RETRY missing")
SUPPRESSED = (
    r"panic: failed to start executor binary", r"panic: executor failed: pthread_create failed",
    r"panic: failed to create temp dir", r"fatal error: unexpected signal during runtime execution",
    r"signal SIGBUS: bus error", r"SYZFAIL: SIGBUS",
    r"Out of memory: Kill process .* \(syz-executor\)", r"Out of memory: Kill process .* \(sshd\)",
    r"Killed process .* \(syz-executor\)", r"Killed process .* \(sshd\)",
    r"lowmemorykiller: Killing 'syz-executor'", r"lowmemorykiller: Killing 'sshd'",
    r"INIT: PANIC: segmentation violation!",
    r"\*\*\* stack smashing detected \*\*\*: terminated",
)
