// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Capability checks (cap_capable), aggregated in the kernel. cap_capable runs ~18 times per
 * fork+exec (memory accounting asks for CAP_SYS_ADMIN), so each check only bumps a counter
 * in ktrail_cap_agg_map; the first check of a key is reported at once, and the agent turns
 * the counters into periodic summaries. Three variants, one chosen by the loader:
 * tp_btf/cap_capable (6.14+), fexit/cap_capable, kprobe+kretprobe/cap_capable.
 */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define KTRAIL_CAP_SYS_ADMIN 21

static __always_inline void ktrail_cap_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&ktrail_cap_counters, &idx);
	if (c)
		*c += 1;
}

/* Syscall the current task is in, from its saved user registers; -1 outside a syscall
 * (kernel threads, page faults have orig_ax == -1 too). */
static __always_inline __s32 ktrail_current_syscall(void)
{
	struct pt_regs *regs;
	long nr = -1;

	/* bpf_task_pt_regs is 5.15+ (bpf_get_current_task_btf 5.11+): the relocation turns this
	 * into a constant, so older verifiers never see the call. Only the tp_btf variant (6.14+)
	 * needs the syscall; fexit/kprobe read the audit option instead. */
	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs))
		return -1;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (regs)
		bpf_probe_read_kernel(&nr, sizeof(nr), &regs->orig_ax);
	return (__s32)nr;
}

/*
 * tp_btf/cap_capable does not carry CAP_OPT_NOAUDIT, so the well-known noise is recognised
 * by its shape: CAP_SYS_ADMIN asked for while the task maps memory, forks or execs
 * (security_vm_enough_memory_mm -> cap_vm_enough_memory, which passes CAP_OPT_NOAUDIT).
 */
static __always_inline bool ktrail_cap_memory_accounting(__s32 cap, __s32 nr, bool compat)
{
	if (cap != KTRAIL_CAP_SYS_ADMIN)
		return false;
	if (compat) /* ia32: brk 45, mmap 90, mprotect 125, mremap 163, clone 120, fork 2, vfork 190, execve 11, mmap2 192 */
		return nr == 45 || nr == 90 || nr == 125 || nr == 163 || nr == 120 || nr == 2 ||
		       nr == 190 || nr == 11 || nr == 192 || nr == 358 || nr == 435;
	/* x86_64: mmap 9, mprotect 10, brk 12, mremap 25, shmat 30, clone 56, fork 57, vfork 58,
	 * execve 59, execveat 322, clone3 435 */
	return nr == 9 || nr == 10 || nr == 12 || nr == 25 || nr == 30 || nr == 56 || nr == 57 ||
	       nr == 58 || nr == 59 || nr == 322 || nr == 435;
}

static __always_inline void ktrail_cap_exe_as(struct task_struct *task, bool btf, __u64 *ino,
					      __u32 *dev)
{
	struct mm_struct *mm = KTRAIL_RD(btf, task, mm);
	struct file *exe;

	*ino = 0;
	*dev = 0;
	/* Kernel threads have no mm. */
	if (!mm)
		return;
	exe = KTRAIL_RD(btf, mm, exe_file);
	if (!exe)
		return;
	*ino = KTRAIL_RD(btf, exe, f_inode, i_ino);
	*dev = KTRAIL_RD(btf, exe, f_inode, i_sb, s_dev);
}

/* The current task's executable: plain loads through bpf_get_current_task_btf() (5.11, commit
 * 3ca1032ab7ab) on every check that is counted, probe reads before. */
static __always_inline void ktrail_cap_exe(__u64 *ino, __u32 *dev)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf))
		ktrail_cap_exe_as(bpf_get_current_task_btf(), true, ino, dev);
	else
		ktrail_cap_exe_as(ktrail_current(), false, ino, dev);
}

/* audit: enum ktrail_cap_audit; hook: enum ktrail_cap_hook. */
static __always_inline int ktrail_cap_check(void *ctx, __s32 cap, __s32 ret, __u8 audit, __u8 hook)
{
	struct task_struct *task;
	struct ktrail_cap_key key = {};
	struct ktrail_cap_agg *agg;
	struct ktrail_capable *e;
	bool always, compat;
	__s32 nr;
	long err;

	ktrail_cap_count(KTRAIL_CAPC_CHECKS);
	/* Most checks are granted and not wanted: they leave before any helper call. */
	always = cap >= 0 && cap < 64 && ((ktrail_cap_always >> cap) & 1);
	if (!always && ktrail_cap_policy < 2 && ret == 0)
		return 0;
	if (ktrail_is_agent())
		return 0;
	ktrail_cap_count(KTRAIL_CAPC_SELECTED);
	task = ktrail_current();

	if (!always) {
		key.cgroup_id = bpf_get_current_cgroup_id();
		key.tgid = ktrail_cap_by_process ? bpf_get_current_pid_tgid() >> 32 : 0;
		ktrail_cap_exe(&key.exe_ino, &key.exe_dev);
		key.cap = cap;
		key.denied = ret != 0;
		key.audit = audit;
		bpf_get_current_comm(key.comm, sizeof(key.comm));
		agg = bpf_map_lookup_elem(&ktrail_cap_agg_map, &key);
		if (agg) {
			/* The common case: one atomic add, nothing emitted. */
			__sync_fetch_and_add(&agg->count, 1);
			agg->last_boot_ns = bpf_ktime_get_boot_ns();
			ktrail_cap_count(KTRAIL_CAPC_AGGREGATED);
			return 0;
		}
	}

	e = ktrail_scratch();
	if (!e)
		return 0;
	KTRAIL_ZERO(e, sizeof(*e));
	ktrail_fill_header(&e->hdr, task, KTRAIL_EV_CAPABLE, sizeof(*e));
	compat = ktrail_in_compat_syscall(task);
	if (compat)
		e->hdr.flags |= KTRAIL_F_COMPAT_SYSCALL;
	nr = ktrail_current_syscall();
	e->count = 1;
	e->first_boot_ns = e->hdr.boot_ns;
	ktrail_cap_exe(&e->exe_ino, &e->exe_dev);
	e->cap = cap;
	e->ret = ret;
	e->syscall_nr = nr;
	e->audit = audit;
	e->hook = hook;
	e->noise = audit == KTRAIL_CAP_AUDIT_NO ||
		   (audit == KTRAIL_CAP_AUDIT_UNKNOWN && ktrail_cap_memory_accounting(cap, nr, compat));
	e->origin = always ? KTRAIL_CAP_ALWAYS : KTRAIL_CAP_FIRST;

	if (!always) {
		/* The map value (count + the record as the key's template) is built in the
		 * scratch space after the record: the union holds far more than both. */
		struct ktrail_cap_agg *v =
			(struct ktrail_cap_agg *)((char *)e + sizeof(struct ktrail_capable));
		v->count = 1;
		v->last_boot_ns = e->hdr.boot_ns;
		__builtin_memcpy(&v->first, e, sizeof(*e));
		err = bpf_map_update_elem(&ktrail_cap_agg_map, &key, v, BPF_NOEXIST);
		if (err == -17 /* EEXIST: another CPU inserted it first */) {
			agg = bpf_map_lookup_elem(&ktrail_cap_agg_map, &key);
			if (agg)
				__sync_fetch_and_add(&agg->count, 1);
			ktrail_cap_count(KTRAIL_CAPC_AGGREGATED);
			return 0;
		}
		if (err) {
			/* Full: never lose a distinct key; report this check on its own. */
			e->origin = KTRAIL_CAP_OVERFLOW;
			ktrail_cap_count(KTRAIL_CAPC_OVERFLOW);
		}
	}
	ktrail_emit(ctx, e, sizeof(*e), KTRAIL_HOOK_CAPABLE);
	return 0;
}

/* 6.14+ (commit "security: add trace event for cap_capable"): the result, no options. */
SEC("tp_btf/cap_capable")
int BPF_PROG(tp_btf__cap_capable, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	return ktrail_cap_check(ctx, cap, ret, KTRAIL_CAP_AUDIT_UNKNOWN, KTRAIL_CAP_HOOK_TP_BTF);
}

/* cap_capable(cred, ns, cap, opts) since 5.1 (commit c1a85a00ea66 "LSM: generalize flag
 * passing to security_capable"). fexit sees the arguments and the result in one program. */
SEC("fexit/cap_capable")
int BPF_PROG(fexit__cap_capable, const struct cred *cred, struct user_namespace *ns, int cap,
	     unsigned int opts, int ret)
{
	return ktrail_cap_check(ctx, cap, ret,
				ktrail_cap_opts_noaudit(opts) ? KTRAIL_CAP_AUDIT_NO : KTRAIL_CAP_AUDIT_YES,
				KTRAIL_CAP_HOOK_FEXIT);
}

SEC("kprobe/cap_capable")
int BPF_KPROBE(kprobe__cap_capable, const struct cred *cred, struct user_namespace *ns, int cap,
	       unsigned int opts)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ktrail_cap_pending p = {.cred = (__u64)cred, .cap = cap, .opts = opts};

	bpf_map_update_elem(&ktrail_cap_pending_map, &tid, &p, BPF_ANY);
	return 0;
}

SEC("kretprobe/cap_capable")
int BPF_KRETPROBE(kretprobe__cap_capable, int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ktrail_cap_pending *p = bpf_map_lookup_elem(&ktrail_cap_pending_map, &tid);
	__s32 cap;
	__u32 opts;

	if (!p)
		return 0;
	cap = p->cap;
	opts = p->opts;
	bpf_map_delete_elem(&ktrail_cap_pending_map, &tid);
	return ktrail_cap_check(ctx, cap, ret,
				ktrail_cap_opts_noaudit(opts) ? KTRAIL_CAP_AUDIT_NO : KTRAIL_CAP_AUDIT_YES,
				KTRAIL_CAP_HOOK_KPROBE);
}
