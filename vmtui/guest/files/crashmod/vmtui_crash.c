// SPDX-License-Identifier: GPL-2.0
/*
 * vmtui_crash: real kernel reports on demand, for vmtui's crash-detection tests.
 *
 * Loaded by hand in the test guest (insmod /lib/modules/extra/vmtui_crash.ko),
 * it creates /proc/vmtui_crash; writing one of these words triggers a report:
 *
 *   warn      WARN_ON                      -> WARNING: CPU: ... at vmtui_crash.c
 *   bug       BUG_ON                       -> kernel BUG at vmtui_crash.c
 *   null      a NULL pointer store         -> BUG: kernel NULL pointer dereference
 *   gpf       a non-canonical address      -> general protection fault
 *   divide    a division by zero           -> divide error
 *   lockup    spin with preemption off     -> watchdog: BUG: soft lockup
 *   hang      sleep uninterruptibly        -> INFO: task ... blocked for more than
 *   rcu       spin inside RCU, no preempt  -> rcu: INFO: rcu_preempt self-detected stall
 *   overflow  recurse off the stack's end  -> BUG: stack guard page was hit
 *   irqspin   spin with interrupts off     -> silence: vmtui's "vCPU N stuck in
 *                                             vmtui_crash_irqspin" from its registers
 *
 * Each trigger lives in its own noinline function, so the report names it.
 * The lockup, hang and stall last a bounded time and then return, each long
 * enough for the test guest's own thresholds (set by its rc at boot):
 *
 *   lockup  16 s  soft lockup after 2 * watchdog_thresh (5) = 10-12 s, and ends
 *                 before the RCU stall (21 s) that a preempt-off spin also is
 *   hang    24 s  hung_task_timeout_secs 10, checked every 2 s: 10-14 s
 *   rcu     30 s  the kernel's rcu_cpu_stall_timeout (21 s) after the grace
 *                 period this trigger asks for; the soft-lockup watchdog is
 *                 touched meanwhile, so the stall is the report (2 vCPUs or
 *                 more: the grace period's kthread runs on another CPU)
 *   irqspin 30 s  with interrupts off the spinning CPU's own watchdog timer
 *                 cannot fire: on 1 vCPU the whole guest is silent until the
 *                 spin ends (then a soft lockup is reported); with more, other
 *                 CPUs report an RCU stall after 21 s (or a soft lockup of
 *                 their own, waiting on an IPI to this CPU). vmtui's stuck-vCPU
 *                 sampler sees it from outside in seconds.
 */
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/nmi.h>
#include <linux/preempt.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#define LOCKUP_SECONDS 16
#define HANG_SECONDS 24
#define STALL_SECONDS 30
#define IRQSPIN_SECONDS 30

static volatile long vmtui_sink;
static volatile int vmtui_zero;
static volatile unsigned long vmtui_bad_address = 0xdead000000000000UL;
static int *volatile vmtui_null;

static noinline void vmtui_crash_warn(void)
{
	WARN_ON(vmtui_zero == 0);
}

static noinline void vmtui_crash_bug(void)
{
	BUG_ON(vmtui_zero == 0);
}

static noinline void vmtui_crash_null(void)
{
	*vmtui_null = 1;
}

static noinline void vmtui_crash_gpf(void)
{
	vmtui_sink = *(volatile long *)vmtui_bad_address;
}

static noinline void vmtui_crash_divide(void)
{
	vmtui_sink = 1000 / vmtui_zero;
}

/* Spin for @seconds; @quiet: keep the soft-lockup watchdog from reporting it. */
static noinline void vmtui_crash_spin(unsigned int seconds, bool quiet)
{
	unsigned long end = jiffies + seconds * HZ;

	while (time_before(jiffies, end)) {
		if (quiet)
			touch_softlockup_watchdog();
		cpu_relax();
	}
}

static noinline void vmtui_crash_lockup(void)
{
	preempt_disable();
	vmtui_crash_spin(LOCKUP_SECONDS, false);
	preempt_enable();
}

static noinline void vmtui_crash_rcu(void)
{
	/* A grace period must be under way for a stall to be seen: ask for one. */
	vmtui_sink = (long)start_poll_synchronize_rcu();
	rcu_read_lock();
	preempt_disable();
	vmtui_crash_spin(STALL_SECONDS, true);
	preempt_enable();
	rcu_read_unlock();
}

/*
 * Interrupts off: no timer tick reaches this CPU (on one vCPU jiffies stand
 * still), so the time comes from local_clock(), which reads the TSC. The clock
 * is read once per inner loop, so the RIP is nearly always in this function.
 */
static noinline void vmtui_crash_irqspin(void)
{
	unsigned long flags;
	u64 end;
	int i;

	local_irq_save(flags);
	end = local_clock() + (u64)IRQSPIN_SECONDS * NSEC_PER_SEC;
	while (local_clock() < end) {
		for (i = 0; i < 100000; i++)
			cpu_relax();
	}
	local_irq_restore(flags);
}

static noinline void vmtui_crash_hang(void)
{
	set_current_state(TASK_UNINTERRUPTIBLE);
	vmtui_sink = schedule_timeout(HANG_SECONDS * HZ); /* no tail call: keep this frame */
}

/* 512 bytes a frame; not a tail call, so it cannot become a loop. */
static noinline long vmtui_crash_recurse(long depth)
{
	volatile char frame[512];

	memset((char *)frame, (int)depth, sizeof(frame));
	return vmtui_crash_recurse(depth + 1) + frame[depth % sizeof(frame)];
}

static noinline void vmtui_crash_overflow(void)
{
	vmtui_sink = vmtui_crash_recurse(0);
}

static const struct {
	const char *word;
	void (*trigger)(void);
} vmtui_triggers[] = {
	{ "warn", vmtui_crash_warn },     { "bug", vmtui_crash_bug },
	{ "null", vmtui_crash_null },     { "gpf", vmtui_crash_gpf },
	{ "divide", vmtui_crash_divide }, { "lockup", vmtui_crash_lockup },
	{ "hang", vmtui_crash_hang },     { "rcu", vmtui_crash_rcu },
	{ "overflow", vmtui_crash_overflow }, { "irqspin", vmtui_crash_irqspin },
};

static noinline ssize_t vmtui_crash_write(struct file *file, const char __user *buf,
					  size_t count, loff_t *pos)
{
	char word[16] = {};
	size_t i;

	if (count == 0 || count >= sizeof(word))
		return -EINVAL;
	if (copy_from_user(word, buf, count))
		return -EFAULT;
	strim(word);
	for (i = 0; i < ARRAY_SIZE(vmtui_triggers); i++) {
		if (strcmp(word, vmtui_triggers[i].word) == 0) {
			pr_info("vmtui_crash: %s\n", word);
			vmtui_triggers[i].trigger();
			return count;
		}
	}
	return -EINVAL;
}

static const struct proc_ops vmtui_crash_ops = {
	.proc_write = vmtui_crash_write,
};

static struct proc_dir_entry *vmtui_entry;

static int __init vmtui_crash_init(void)
{
	vmtui_entry = proc_create("vmtui_crash", 0200, NULL, &vmtui_crash_ops);
	return vmtui_entry ? 0 : -ENOMEM;
}

static void __exit vmtui_crash_exit(void)
{
	proc_remove(vmtui_entry);
}

module_init(vmtui_crash_init);
module_exit(vmtui_crash_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Real kernel reports on demand, for vmtui's tests");
