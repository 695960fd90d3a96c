"""A report's kind, from its title: the TYPE syzkaller files it under, so a
farm's crash list can be sorted into hangs, leaks, memory-safety bugs."""

from __future__ import annotations

# (kind, title prefixes); the first kind with a matching prefix wins.
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("KFENCE-USE-AFTER-FREE-WRITE", ("KFENCE: use-after-free write",)),
    ("KFENCE-USE-AFTER-FREE-READ", ("KFENCE: use-after-free",)),
    ("KFENCE-WRITE", ("KFENCE: invalid write", "KFENCE: out-of-bounds write")),
    ("KFENCE-READ", ("KFENCE: invalid read", "KFENCE: out-of-bounds")),
    ("KFENCE-MEMORY-CORRUPTION", ("KFENCE: memory corruption",)),
    ("KFENCE-INVALID-FREE", ("KFENCE: invalid free",)),
    ("KMSAN-UNINIT-VALUE", ("KMSAN: uninit-value",)),
    ("KMSAN-USE-AFTER-FREE-READ", ("KMSAN: kernel-infoleak-after-free",
                                   "KMSAN: kernel-usb-infoleak-after-free",
                                   "KMSAN: use-after-free")),
    ("KMSAN-INFO-LEAK", ("KMSAN: kernel-infoleak", "KMSAN: kernel-usb-infoleak")),
    ("KASAN-NULL-POINTER-DEREFERENCE-WRITE", ("KASAN: null-ptr-deref Write",)),
    ("KASAN-NULL-POINTER-DEREFERENCE-READ", ("KASAN: null-ptr-deref Read",)),
    ("NULL-POINTER-DEREFERENCE", ("BUG: unable to handle kernel NULL pointer dereference in",)),
    ("KASAN-WRITE", tuple(f"KASAN: {k} Write" for k in (
        "global-out-of-bounds", "out-of-bounds", "slab-out-of-bounds", "stack-out-of-bounds",
        "user-memory-access", "vmalloc-out-of-bounds", "wild-memory-access"))),
    ("KASAN-READ", (*(f"KASAN: {k} Read" for k in (
        "global-out-of-bounds", "invalid-access", "out-of-bounds", "stack-out-of-bounds",
        "unknown-crash", "user-memory-access", "vmalloc-out-of-bounds")),
        "KASAN: slab-out-of-bounds", "KASAN: stack-out-of-bounds", "KASAN: wild-memory-access")),
    ("KASAN-INVALID-FREE", ("KASAN: double-free or invalid-free", "KASAN: invalid-free")),
    ("KASAN-USE-AFTER-FREE-WRITE", ("KASAN: slab-use-after-free Write",
                                    "KASAN: use-after-free Write")),
    ("KASAN-USE-AFTER-FREE-READ", ("KASAN: slab-use-after-free Read", "KASAN: use-after-free")),
    ("MEMORY_SAFETY_BUG", ("BUG: corrupted list", "BUG: unable to handle kernel paging request")),
    ("REFCOUNT_WARNING", ("WARNING: refcount bug",)),
    ("MEMORY_SAFETY_UBSAN", ("UBSAN: array-index-out-of-bounds",)),
    ("KCSAN-DATARACE", ("KCSAN: data-race",)),
    ("KCSAN-ASSERT", ("KCSAN: assert: race in",)),
    ("LOCKDEP", ("BUG: bad unlock balance in", "BUG: held lock freed in", "BUG: rwlock",
                 "BUG: spinlock", "BUG: still has locks held in", "BUG: using",
                 "WARNING: bad unlock balance in", "WARNING: held lock freed in",
                 "WARNING: lock held", "WARNING: locking bug in",
                 "WARNING: nested lock was not taken in", "WARNING: still has locks held in",
                 "WARNING: suspicious RCU usage in", "inconsistent lock state in",
                 "possible deadlock in")),
    ("ATOMIC_SLEEP", ("BUG: scheduling while atomic in",
                      "BUG: sleeping function called from invalid context in")),
    ("LEAK", ("memory leak in",)),
    ("BUG", ("BUG: bad usercopy in", "kernel BUG")),
    ("WARNING", ("WARNING in",)),
    ("UNKNOWN", ("BUG: stack guard page was hit in", "WARNING: corrupted",
                 "WARNING: kernel stack frame pointer has bad value",
                 "WARNING: kernel stack regs has bad")),
    ("HANG", ("BUG: soft lockup in", "INFO: rcu detected stall in", "INFO: task can't die in",
              "INFO: task hung in")),
    ("DoS", ("Alignment trap in", "BUG: Object already free", "Internal error in",
             "PANIC: double fault", "Unhandled fault in", "VFS: Busy inodes after unmount",
             "VFS: Close: file count is zero", "divide error in", "general protection fault in",
             "go runtime error", "int3 in", "invalid opcode in", "kernel panic:",
             "kernel stack overflow", "panic:", "rust_kernel panicked", "stack segment fault in",
             "trusty:", "unregister_netdevice: waiting for DEV to become free")),
    ("NO_OUTPUT", ("no output from test machine",)),
    ("REBOOT", ("unexpected kernel reboot",)),
    ("SYZ_FAILURE", ("SYZFAIL", "SYZFATAL:")),
    ("WARNING", ("WARNING:",)),
    ("UNKNOWN", ("BUG:", "INFO:")),
    ("KASAN-UNKNOWN", ("KASAN:",)),
    ("KFENCE-UNKNOWN", ("KFENCE:",)),
    ("KMSAN-UNKNOWN", ("KMSAN:",)),
    ("UBSAN", ("UBSAN:",)),
    ("KCSAN-UNKNOWN", ("KCSAN:",)),
)


def kind_of(title: str) -> str:
    for kind, prefixes in _KINDS:
        if title.startswith(prefixes):
            return kind
    return "UNKNOWN"
