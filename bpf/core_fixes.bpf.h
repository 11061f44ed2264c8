/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Every kernel-version difference ktrail depends on lives here. */
#ifndef KTRAIL_CORE_FIXES_BPF_H
#define KTRAIL_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

/*
 * One field read, through a chain of pointers: plain loads where src is a BTF pointer (a tp_btf
 * argument, and what its fields lead to; the JIT guards each load with an exception table),
 * CO-RE probe reads otherwise (the classic tracepoints' task is a scalar to the verifier). A
 * probe read is a helper call, several times a plain load's cost. btf is a constant in every
 * inlined copy, so each program carries one kind. ___arrow is libbpf's own `a->b->c` builder.
 */
#define KTRAIL_RD(btf, src, a, ...)                                                     \
	((btf) ? ___arrow((src), a, ##__VA_ARGS__) : BPF_CORE_READ((src), a, ##__VA_ARGS__))

/* kernel_cap_t was { __u32 cap[2]; } until 6.3 (commit f122a08b197d "capability: just use a
 * 64-bit value") and { u64 val; } since. Both are 8 little-endian bytes, cap[0] low. */
static __always_inline __u64 ktrail_read_caps(const kernel_cap_t *caps)
{
	__u64 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), caps);
	return v;
}

/* task_struct::real_start_time was renamed start_boottime in 5.5 (commit cf25e24db61c). */
struct task_struct___pre55 {
	u64 real_start_time;
};

static __always_inline __u64 ktrail_task_start_boottime(struct task_struct *task, bool btf)
{
	if (bpf_core_field_exists(task->start_boottime))
		return KTRAIL_RD(btf, task, start_boottime);
	return KTRAIL_RD(btf, (struct task_struct___pre55 *)task, real_start_time);
}

/* loginuid/sessionid exist only with CONFIG_AUDIT; report "unset" without it. */
static __always_inline __u32 ktrail_task_loginuid(struct task_struct *task, bool btf)
{
	if (bpf_core_field_exists(task->loginuid))
		return KTRAIL_RD(btf, task, loginuid.val);
	return (__u32)-1;
}

static __always_inline __u32 ktrail_task_sessionid(struct task_struct *task, bool btf)
{
	if (bpf_core_field_exists(task->sessionid))
		return KTRAIL_RD(btf, task, sessionid);
	return (__u32)-1;
}

/* x86 TS_COMPAT (asm/thread_info.h): the task is in an ia32 syscall. */
#define KTRAIL_TS_COMPAT 0x0002

static __always_inline bool ktrail_in_compat_syscall(struct task_struct *task)
{
	if (!bpf_core_field_exists(task->thread_info.status))
		return false;
	return BPF_CORE_READ(task, thread_info.status) & KTRAIL_TS_COMPAT;
}

/*
 * The same test where it runs on every syscall of the host (the raw sys_enter/sys_exit guard
 * for ia32 syscalls): bpf_get_current_task_btf() (5.11, commit 3ca1032ab7ab) gives a plain
 * load instead of two helper calls. On older kernels the branch is dead code to the verifier.
 */
static __always_inline bool ktrail_in_compat_syscall_fast(void)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf) &&
	    bpf_core_field_exists(((struct task_struct *)0)->thread_info.status))
		return bpf_get_current_task_btf()->thread_info.status & KTRAIL_TS_COMPAT;
	return ktrail_in_compat_syscall((struct task_struct *)bpf_get_current_task());
}

/*
 * The user registers of the current syscall at its exit, where the classic per-syscall exit
 * tracepoint carries only the return value: bpf_task_pt_regs() exists since 5.15 (commit
 * dd6e10fbd9fb). NULL before; the loader then also attaches the enter tracepoint, which saves
 * the arguments (plan_attach: task_pt_regs).
 */
static __always_inline struct pt_regs *ktrail_current_user_regs(void)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs) &&
	    bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf))
		return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	return NULL;
}

/* sched_process_exit gained a `bool group_dead` argument in 6.16; only the task (arg 0) is
 * used, and whether the group is dead is read from signal->live on every kernel. */
static __always_inline bool ktrail_group_dead(struct task_struct *task, bool btf)
{
	return KTRAIL_RD(btf, task, signal, live.counter) == 0;
}

/* skc_v6_daddr/skc_v6_rcv_saddr exist only with CONFIG_IPV6 (include/net/sock.h). */
static __always_inline void ktrail_sock_v6_addrs(struct sock *sk, __u8 peer[16], __u8 local[16])
{
	if (!bpf_core_field_exists(sk->__sk_common.skc_v6_daddr))
		return;
	bpf_core_read(peer, 16, &sk->__sk_common.skc_v6_daddr);
	bpf_core_read(local, 16, &sk->__sk_common.skc_v6_rcv_saddr);
}

/* cap_capable's 4th argument: `unsigned int opts` with CAP_OPT_NOAUDIT = BIT(1) since 5.1
 * (commit c1a85a00ea66); before, `int audit` with SECURITY_CAP_NOAUDIT = 0. ktrail needs 5.8+
 * (ring buffer), so only the opts form is handled. The 6.14 tracepoint carries neither. */
#define KTRAIL_CAP_OPT_NOAUDIT 0x2

static __always_inline bool ktrail_cap_opts_noaudit(unsigned int opts)
{
	return opts & KTRAIL_CAP_OPT_NOAUDIT;
}

/* bpf_rdonly_cast() (6.2, commit a35b9af4ec2c "bpf: Add a kfunc for generic type cast") turns a
 * kernel pointer into a read-only BTF pointer: its fields are plain loads, not one helper call
 * each. A __weak extern: where the kernel lacks it, libbpf leaves the call unresolved (imm 0)
 * and the verifier accepts it as dead code, which the loader makes it by leaving
 * ktrail_has_rdonly_cast 0 (its feature probe, userspace/loader/prog_probe.cpp). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
const volatile __u32 ktrail_has_rdonly_cast __weak = 0;

#endif
