// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Successful exec (sched_process_exec) and process exit (sched_process_exit). */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Working directory, leaf first: the verifier cannot reverse a walk into one buffer cheaply,
 * so the agent reverses and joins the NUL-separated components. */
static __always_inline void ktrail_read_cwd(struct task_struct *task, struct ktrail_exec *e)
{
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	struct dentry *dentry = BPF_CORE_READ(fs, pwd.dentry);
	struct vfsmount *vfsmnt = BPF_CORE_READ(fs, pwd.mnt);
	struct dentry *root_dentry = BPF_CORE_READ(fs, root.dentry);
	struct vfsmount *root_mnt = BPF_CORE_READ(fs, root.mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	__u32 off = 0;
	int i;

	for (i = 0; i < KTRAIL_CWD_DEPTH; i++) {
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		struct dentry *parent;
		const unsigned char *name;
		long n;

		if (dentry == root_dentry && vfsmnt == root_mnt)
			goto done;
		if (dentry == mnt_root) {
			struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
			if (mnt_parent == mnt) {
				/* Global root but not the task's root: cwd is outside its chroot. */
				e->flags |= KTRAIL_EXEC_CWD_UNREACHABLE;
				goto done;
			}
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			vfsmnt = &mnt->mnt;
			continue;
		}
		parent = BPF_CORE_READ(dentry, d_parent);
		if (parent == dentry) {
			e->flags |= KTRAIL_EXEC_CWD_UNREACHABLE;
			goto done;
		}
		name = BPF_CORE_READ(dentry, d_name.name);
		/* Reads past cwd[] land in args[], which is written afterwards; the map value
		 * bounds the access for the verifier. */
		n = bpf_probe_read_kernel_str(&e->cwd[off & (KTRAIL_PATH_MAX - 1)], 256, name);
		if (n <= 0)
			goto done;
		if (off + n > KTRAIL_PATH_MAX) {
			e->flags |= KTRAIL_EXEC_CWD_TRUNCATED;
			goto done;
		}
		off += n;
		dentry = parent;
	}
	e->flags |= KTRAIL_EXEC_CWD_TRUNCATED;
done:
	e->cwd_len = off;
}

/* btf_task: the tracepoint's task argument (tp_btf), or NULL for the classic variant. */
static __always_inline int ktrail_handle_exec(void *ctx, struct task_struct *btf_task,
					      struct linux_binprm *bprm, const char *tp_filename)
{
	struct task_struct *task = ktrail_current();
	struct ktrail_exec *e;
	struct mm_struct *mm;
	unsigned long arg_start, arg_end, len;
	long n;

	if (ktrail_is_agent())
		return 0;
	e = ktrail_scratch();
	if (!e)
		return 0;
	e->flags = 0;
	/* signal->pids[] exists since 4.19 (commit 2c4704756cab); numbers[0] is the init pid ns. */
	e->sid = BPF_CORE_READ(task, signal, pids[PIDTYPE_SID], numbers[0].nr);
	KTRAIL_ZERO(e->tty, sizeof(e->tty));
	KTRAIL_ZERO(e->filename, sizeof(e->filename));
	KTRAIL_ZERO(e->cwd, sizeof(e->cwd));

	if (bprm) {
		n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename),
					      BPF_CORE_READ(bprm, filename));
		e->argc = BPF_CORE_READ(bprm, argc);
		e->flags |= KTRAIL_EXEC_ARGC_KNOWN | KTRAIL_EXEC_SECUREEXEC_KNOWN;
		if (BPF_CORE_READ_BITFIELD_PROBED(bprm, secureexec))
			e->flags |= KTRAIL_EXEC_SECUREEXEC;
	} else {
		n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), tp_filename);
		e->argc = 0;
	}
	if (n < 0)
		n = 0;
	if (n >= KTRAIL_PATH_MAX)
		e->flags |= KTRAIL_EXEC_FILENAME_TRUNCATED;
	e->filename_len = n > 0 ? n - 1 : 0;

	{
		struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
		if (tty)
			bpf_probe_read_kernel_str(e->tty, sizeof(e->tty), tty->name);
	}

	ktrail_read_cwd(task, e);

	mm = BPF_CORE_READ(task, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	len = arg_end - arg_start;
	if (len > KTRAIL_ARGS_MAX) {
		len = KTRAIL_ARGS_MAX;
		e->flags |= KTRAIL_EXEC_ARGS_TRUNCATED;
	}
	/* Keep the verifier's bound on len visible after clang's rewrite of the clamp. */
	asm volatile("%[len] &= 0x1fff" : [len] "+r"(len));
	if (len > KTRAIL_ARGS_MAX)
		len = KTRAIL_ARGS_MAX;
	if (len && bpf_probe_read_user(e->args, len, (void *)arg_start) == 0) {
		e->args_len = len;
		if (e->flags & KTRAIL_EXEC_ARGS_TRUNCATED)
			e->args[KTRAIL_ARGS_MAX - 1] = 0;
	} else {
		e->args_len = 0;
	}

	if (btf_task)
		ktrail_fill_header_btf(&e->hdr, btf_task, KTRAIL_EV_EXEC,
				       offsetof(struct ktrail_exec, args) + e->args_len);
	else
		ktrail_fill_header(&e->hdr, task, KTRAIL_EV_EXEC,
				   offsetof(struct ktrail_exec, args) + e->args_len);
	ktrail_emit(ctx, e, e->hdr.size, KTRAIL_HOOK_EXEC);
	return 0;
}

/* A non-leader thread that execs takes over the leader's pid (de_thread), so its sys_exit runs
 * under a tid other than the one sys_enter stored the execve under: drop that entry here, or
 * it stays in the pending map for good and, at 16384 of them, tracking stops. */
static __always_inline void ktrail_forget_pending(__u32 old_tid)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (old_tid != tid)
		bpf_map_delete_elem(&ktrail_pending_map, &old_tid);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_btf__sched_process_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	ktrail_forget_pending(old_pid);
	return ktrail_handle_exec(ctx, p, bprm, NULL);
}

SEC("tracepoint/sched/sched_process_exec")
int tracepoint__sched__sched_process_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	const char *filename = (const char *)ctx + (ctx->__data_loc_filename & 0xFFFF);

	ktrail_forget_pending(ctx->old_pid);
	return ktrail_handle_exec(ctx, NULL, NULL, filename);
}

static __always_inline int ktrail_handle_exit(void *ctx, struct task_struct *btf_task)
{
	struct task_struct *task = ktrail_current();
	struct ktrail_exit *e;

	if (ktrail_is_agent())
		return 0;
	/* One record per process, when its last thread goes. */
	if (!ktrail_group_dead(task))
		return 0;
	e = ktrail_scratch();
	if (!e)
		return 0;
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->_pad0 = 0;
	if (btf_task)
		ktrail_fill_header_btf(&e->hdr, btf_task, KTRAIL_EV_EXIT, sizeof(*e));
	else
		ktrail_fill_header(&e->hdr, task, KTRAIL_EV_EXIT, sizeof(*e));
	ktrail_emit(ctx, e, sizeof(*e), KTRAIL_HOOK_EXIT);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_btf__sched_process_exit, struct task_struct *p)
{
	return ktrail_handle_exit(ctx, p);
}

SEC("tracepoint/sched/sched_process_exit")
int tracepoint__sched__sched_process_exit(void *ctx)
{
	return ktrail_handle_exit(ctx, NULL);
}
