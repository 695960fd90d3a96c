"""Linux stack traces: what a frame line looks like, which frames are never
the guilty one, and how stalls and hangs choose their representative frame.

The lists follow syzkaller's choices (pkg/report/linux.go), so the titles
agree with syzbot's; grouped here by why a frame is passed over.
"""

from __future__ import annotations

from vmtui.backends.monitor.report.engine import Frames, rx

PC = r"\[<?(?:0x)?[0-9a-f]+>?\]"
CALL_TRACE = rx(r"Call [Tt]race:|Backtrace:")
# The faulting instruction's line: x86 "RIP: 0010:f+0x1/0x2", ppc "NIP", arm "pc : f+..".
RIP = rx(r"(?:IP|NIP|pc |PC is at):? (?:(?:\d+:)?(?:@PC@ +){0,2}@FN@|(?:\d+:)?@HEX@"
         r"|(?:\d+:)?@PC@ +\[< *\(null\)>\] +\(null\)|\d+: +\(null\))")

_SKIP = (
    # the sanitizers' own runtime and the report printing around them
    "__sanitizer", "__asan", "kasan", "hwasan", "__msan", "kmsan", "kcsan_setup_watchpoint",
    "check_memory_region", "check_heap_object", "check_object", "read_word_at_a_time",
    "(read|write)_once_.*nocheck", "print_address_description", "print_report",
    "print_usage_bug", "print_tainted", "print_unlock", "imbalance_bug", "__fortify_report",
    "hex_dump_to_buffer", "print_hex_dump", "^get_taint$",
    # panics, traps and the WARN/BUG machinery
    "panic", "invalid_op", "report_bug", "fixup_bug", "do_error", "_trap$|do_trap",
    "program_check_exception", "program_check_common", "warn_slowpath", "warn_alloc",
    "warn_bogus", "__warn", "assertfail",
    "do_(kernel|translation)_fault", "do_mem_abort", "el1_abort", "el1h_64_sync(?:_handler)?",
    "__phys_addr",
    # stack dumping
    "show_stack", "dump_stack", "walk_stack", "dump_backtrace", "stack_trace_consume_entry",
    "arch_stack_walk", "stack_trace_save",
    # allocators and the page cache
    "alloc_page", "k?v?(?:m|z|c)alloc", "krealloc", "kmem_cache", "allocate_slab",
    "__alloc_frozen_pages_noprof", "folio_(?:alloc|unlock)", "filemap_alloc_folio",
    "__filemap_get_folio", "find_or_create_page", "do_read_cache_folio", "read_cache_page",
    "pagecache_get_page", "grab_cache_page_write_begin", "slab_", "^kv?free$", "kfree_skb",
    "xas_(?:start|load|find)", "find_lock_entries", "truncate_inode_pages_range",
    "^(un)?lock_page", "mark_buffer_dirty",
    # debug objects, lockdep, locks and atomics
    "debug_object", "timer_is_static_object", "work_is_static_object", "lockdep",
    "(trace|lockdep)_(hard|soft)irq", "bh_enable", "bh_disable", "perf_trace", "lock_acquire",
    "lock_release", "lock_class", "mark_lock", "(reacquire|mark)_held_locks", "raw_spin_rq",
    "spin_lock", "spin_trylock", "spin_unlock", "read_lock", "read_trylock", "write_lock",
    "write_trylock", "read_unlock", "write_unlock", "^down$", "down_read", "down_write",
    "down_read_trylock", "down_write_trylock", "down_trylock", "up_read", "up_write",
    "^mutex_", "^__mutex_", "^rt_mutex_", "owner_on_cpu", "osq_lock", "osq_unlock",
    "atomic(64)?_(dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)",
    "(set|clear|change|test)_bit", "__wake_up", "^refcount_", "^kref_", "ref_tracker",
    "seqprop_assert", "cleanup_srcu_struct",
    # string, memory and user-copy helpers
    "memcpy", "memcmp", "memset", "memchr", "memmove", "memdup", "strcmp", "strncmp",
    "strcpy", "strlcpy", "strncpy", "strscpy", "strlen", "strstr", "strnstr", "strnlen",
    "strchr", "strdup", "strndup", "copy_to_user", "copy_from_user", "copy_to_iter",
    "copy_from_iter", "copy_page_to_iter", "copy_page_from_iter", "copy_folio_to_iter",
    "^copyin$", "^copyout$", "put_user", "get_user", "might_fault", "might_sleep",
    "__might_fault", "__might_resched", "extract_(user|iter)_to_sg", "_indirect_thunk_",
    "^crc\\d+", "crc_itu_t", "readb$", "readw$", "readl$", "readq$", "writeb$", "writew$",
    "writel$", "writeq$", "logic_in", "logic_out",
    # lists, trees and printing
    "list_add", "list_del", "list_replace", "list_move", "list_splice", "^rb_", "^__rb_",
    "^klist_", "rhashtable_lookup", "string", "pointer", "snprintf", "scnprintf",
    "kasprintf", "kvasprintf", "printk", "va_format", "dev_info", "dev_notice", "dev_warn",
    "dev_err", "dev_alert", "dev_crit", "dev_emerg",
    # timers and work queues
    "del_timer", "lock_timer_base", "__timer_delete_sync", "sk_stop_timer_sync", "__mod_timer",
    "flush_work", "__cancel_work_timer", "cancel_work_sync", "try_to_grab_pending",
    "flush_workqueue", "drain_workqueue", "destroy_workqueue", "queue_work", "insert_work",
    "__queue_delayed_work", "queue_delayed_work_on", "finish_wait", "kthread_stop",
    "^complete$", "wait_for_completion",
    # device model and teardown helpers
    "kobject_", "add_uevent_var", "get_device_parent", "device_add", "device_del",
    "device_unregister", "device_destroy", "device_release", "devres_release_all",
    "hwrng_unregister", "i2c_del_adapter", "__unregister_client", "device_for_each_child",
    "rollback_registered", "unregister_netdev", "sysfs_remove", "device_remove_file",
    "tty_unregister_device", "^put_device$", "ida_free", "dummy_urb_enqueue", "usb_kill_urb",
    "usb_kill_anchored_urbs", "usb_control_msg", "usb_hcd_submit_urb", "usb_submit_urb",
    "^iput$", "^iput_final$", "^ihold$", "drop_nlink", "fast_dput", "dput",
)

LINUX_FRAMES = Frames(
    starts=(
        rx(r"Call [Tt]race"), rx(r"Allocated:"), rx(r"Allocated by task \d+:"), rx(r"Freed:"),
        rx(r"Freed by task \d+:"),
        rx(r"[^k] backtrace(?: \(crc [0-9a-fA-F]*\))?:"),  # kmemleak's, not "stack backtrace:"
        rx(r"Backtrace:"), rx(r"Uninit was stored to memory at"),
        rx(r"status: [0-9a-f]{16} badaddr: [0-9a-f]{16} cause: [0-9a-f]{16}"),  # riscv regs
    ),
    lines=(
        rx(r"^ *(?:@PC@ ){0,2}@FN@"),
        rx(r"^ *@PC@ \(([A-Za-z0-9_.]+)\) from @PC@ \(@FN@"),  # arm: this frame and the caller
    ),
    skip=_SKIP,
    # A fault-injection stack mixed into a report spoils it.
    broken=(rx(r"^( @PC@)? should_fail(slab)?(\.[a-z0-9.]+)?\+0x"),),
    prefixes=("SYSC_", "SyS_", "sys_", "__x64_", "__ia32_", "__arm64_", "____sys_", "___sys_",
              "__sys_", "__se_", "__se_sys_", "__do_sys_", "compat_SYSC_", "compat_SyS_",
              "ksys_"),
)

# Where a stall's loop is entered: the frame above one of these names it.
_ANCHORS = tuple(rx(p) for p in (
    "process_one_work", "do_syscall_", "do_fast_syscall_", "sysenter_dispatch",
    "tracesys_phase2", "el0_svc_handler", "invoke_syscall", "ret_fast_syscall",
    "netif_receive_skb", "do_softirq", "call_timer_fn", "_run_timers", "run_timer_softirq",
    "hrtimer_run", "run_ksoftirqd", "smpboot_thread_fn", "^kthread$", "start_secondary",
    "cpu_startup_entry", "ret_from_fork",
    # the file and device entry points that tell stalls apart
    "vfs_write", "vfs_read", "vfs_iter_read", "vfs_iter_write", "do_iter_read",
    "do_iter_write", "call_read_iter", "call_write_iter", "new_sync_read", "new_sync_write",
    "vfs_ioctl", "ksys_ioctl", "compat_ioctl", "compat_sys_ioctl", "blkdev_driver_ioctl",
    "blkdev_ioctl", "do_iter_readv_writev", "^call_mmap", "mmap_region", "do_mmap",
    "do_dentry_open", "vfs_open",
    # sockets
    "^sock_sendmsg", "^sock_recvmsg", "^sock_release", "^__sock_release", "^setsockopt$",
    "kernel_setsockopt", "sock_common_setsockopt", "^listen$", "kernel_listen",
    "sk_common_release", "^sock_mmap", "^accept$", "kernel_accept", "^sock_do_ioctl",
    "^sock_ioctl", "^compat_sock_ioctl", "^nfnetlink_rcv_msg", "^rtnetlink_rcv_msg",
    "^netlink_dump", "^(sys_)?(socketpair|connect|ioctl)",
    # faults and the way back to user space
    "__do_fault", "do_page_fault", "^page_fault$", "__fput", "task_work_run",
    "exit_to_usermode", "smp_call_function", "tasklet_action", "tasklet_hi_action",
))


def stall_frame(frames: list[str]) -> tuple[str, int]:
    """A stall loops somewhere under an entry point: name it by the frame
    just above the first anchor (smp_call_function names itself)."""
    above, index = (frames[0], 0) if frames else ("", -1)
    for i, frame in enumerate(frames):
        if any(a.search(frame) for a in _ANCHORS):
            if "smp_call_function" in frame:
                return "smp_call_function", i
            return above, index
        above, index = frame, i
    return "", -1


_HANG_BUCKETS = {"rtnl_lock": "", "synchronize_rcu": "synchronize_rcu",
                 "synchronize_srcu": "synchronize_rcu", "synchronize_net": "synchronize_rcu",
                 "synchronize_sched": "synchronize_rcu"}
_HANG_SKIP = ("sched", "_lock", "_slowlock", "down", "rwsem", "completion", "kthread", "wait",
              "synchronize", "context_switch", "__switch_to", "cancel_delayed_work",
              "rcu_barrier")


def hang_frame(frames: list[str]) -> tuple[str, int]:
    """A hung task waits where many others wait: group hangs in rtnl_lock and
    in the synchronize_* family, else take the first frame that is not a wait."""
    for i, frame in enumerate(frames):
        for anchor, name in _HANG_BUCKETS.items():
            if anchor in frame:
                return (name or frame), i
    for i, frame in enumerate(frames):
        if not any(word in frame for word in _HANG_SKIP):
            return frame, i
    return "", -1
