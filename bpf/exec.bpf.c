// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Successful exec (sched_process_exec) and process exit (sched_process_exit). */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Working directory into e->data from base on, leaf first: the verifier cannot reverse a walk
 * into one buffer cheaply, so the agent reverses and joins the NUL-separated components.
 * btf: task is a BTF pointer, and the walk uses plain loads up to the first mount crossing;
 * struct mount is reached by container_of from its vfsmount, a negative offset the verifier
 * refuses on a BTF pointer, so from there on (cwd below a mount point other than the task's
 * root) it probe-reads. Per directory level that leaves one helper call (the name) of four.
 */
static __always_inline void ktrail_read_cwd(struct task_struct *task, bool btf,
					    struct ktrail_exec *e, __u32 base)
{
	struct fs_struct *fs = KTRAIL_RD(btf, task, fs);
	struct dentry *dentry = KTRAIL_RD(btf, fs, pwd.dentry);
	struct vfsmount *vfsmnt = KTRAIL_RD(btf, fs, pwd.mnt);
	struct dentry *root_dentry = KTRAIL_RD(btf, fs, root.dentry);
	struct vfsmount *root_mnt = KTRAIL_RD(btf, fs, root.mnt);
	struct dentry *mnt_root = KTRAIL_RD(btf, vfsmnt, mnt_root);
	struct mount *mnt;
	bool typed = btf; /* dentry still comes from BTF loads */
	__u32 off = 0;
	int i;

	for (i = 0; i < KTRAIL_CWD_DEPTH; i++) {
		struct dentry *parent;
		const unsigned char *name;
		long n;

		if (dentry == root_dentry && vfsmnt == root_mnt)
			goto done;
		if (dentry == mnt_root) {
			struct mount *mnt_parent;

			/* The scalar twin of vfsmnt: on the typed path it is still fs->pwd.mnt. */
			if (typed)
				vfsmnt = BPF_CORE_READ(fs, pwd.mnt);
			mnt = container_of(vfsmnt, struct mount, mnt);
			mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
			if (mnt_parent == mnt) {
				/* Global root but not the task's root: cwd is outside its chroot. */
				e->flags |= KTRAIL_EXEC_CWD_UNREACHABLE;
				goto done;
			}
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			vfsmnt = &mnt->mnt;
			mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
			typed = false;
			continue;
		}
		if (typed) {
			parent = dentry->d_parent;
			name = dentry->d_name.name;
		} else {
			parent = BPF_CORE_READ(dentry, d_parent);
			name = BPF_CORE_READ(dentry, d_name.name);
		}
		if (parent == dentry) {
			e->flags |= KTRAIL_EXEC_CWD_UNREACHABLE;
			goto done;
		}
		/* base + off < KTRAIL_EXEC_PLACE: the mask only shows the verifier the bound. Reads
		 * past the cwd land where args go, which are written afterwards. */
		n = bpf_probe_read_kernel_str(&e->data[(base + off) & (KTRAIL_EXEC_PLACE - 1)], 256,
					      name);
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

/*
 * btf: task and bprm are the tp_btf arguments (BTF pointers, plain loads); otherwise task is
 * the current task as a scalar, bprm is NULL and tp_filename is the classic tracepoint's copy.
 * The record is packed (struct ktrail_exec) and only its used bytes go to the transport, so
 * nothing is zeroed first.
 */
static __always_inline int ktrail_handle_exec(void *ctx, struct task_struct *task, bool btf,
					      struct linux_binprm *bprm, const char *tp_filename)
{
	struct ktrail_exec *e;
	struct mm_struct *mm;
	struct tty_struct *tty;
	char *args;
	__u32 off;
	unsigned long arg_start, arg_end, len;
	long n;

	if (ktrail_is_agent_task(task, btf))
		return 0;
	e = ktrail_scratch();
	if (!e)
		return 0;
	e->flags = 0;
	/* signal->pids[] exists since 4.19 (commit 2c4704756cab); numbers[0] is the init pid ns. */
	e->sid = KTRAIL_RD(btf, task, signal, pids[PIDTYPE_SID], numbers[0].nr);

	if (btf) {
		n = bpf_probe_read_kernel_str(e->data, KTRAIL_PATH_MAX, bprm->filename);
		e->argc = bprm->argc;
		e->flags |= KTRAIL_EXEC_ARGC_KNOWN | KTRAIL_EXEC_SECUREEXEC_KNOWN;
		if (BPF_CORE_READ_BITFIELD(bprm, secureexec))
			e->flags |= KTRAIL_EXEC_SECUREEXEC;
	} else {
		n = bpf_probe_read_kernel_str(e->data, KTRAIL_PATH_MAX, tp_filename);
		e->argc = 0;
	}
	if (n <= 0) {
		n = 1;
		e->data[0] = 0;
	}
	if (n >= KTRAIL_PATH_MAX)
		e->flags |= KTRAIL_EXEC_FILENAME_TRUNCATED;
	e->filename_len = n - 1;

	e->tty[0] = 0;
	tty = KTRAIL_RD(btf, task, signal, tty);
	if (tty)
		bpf_probe_read_kernel_str(e->tty, sizeof(e->tty), tty->name);

	ktrail_read_cwd(task, btf, e, n);
	off = (n + e->cwd_len) & (KTRAIL_EXEC_PLACE - 1);
	args = &e->data[off];

	mm = KTRAIL_RD(btf, task, mm);
	arg_start = KTRAIL_RD(btf, mm, arg_start);
	arg_end = KTRAIL_RD(btf, mm, arg_end);
	len = arg_end - arg_start;
	if (len > KTRAIL_ARGS_MAX) {
		len = KTRAIL_ARGS_MAX;
		e->flags |= KTRAIL_EXEC_ARGS_TRUNCATED;
	}
	/* Keep the verifier's bound on len visible after clang's rewrite of the clamp. */
	asm volatile("%[len] &= 0x1fff" : [len] "+r"(len));
	if (len > KTRAIL_ARGS_MAX)
		len = KTRAIL_ARGS_MAX;
	if (len && bpf_probe_read_user(args, len, (void *)arg_start) == 0) {
		e->args_len = len;
		if (e->flags & KTRAIL_EXEC_ARGS_TRUNCATED)
			args[KTRAIL_ARGS_MAX - 1] = 0;
	} else {
		e->args_len = 0;
	}

	ktrail_fill_header_as(&e->hdr, task, btf, KTRAIL_EV_EXEC,
			      offsetof(struct ktrail_exec, data) + off + e->args_len);
	ktrail_emit(ctx, e, e->hdr.size, KTRAIL_HOOK_EXEC);
	return 0;
}

/* A non-leader thread that execs takes over the leader's pid (de_thread), so its sys_exit runs
 * under a tid other than the one sys_enter stored the execve under: drop that entry here, or
 * it stays in the pending map for good and, at 16384 of them, tracking stops. */
static __always_inline void ktrail_forget_pending(__u32 old_tid, __u32 tid)
{
	if (old_tid != tid)
		bpf_map_delete_elem(&ktrail_pending_map, &old_tid);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_btf__sched_process_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	ktrail_forget_pending(old_pid, p->pid);
	return ktrail_handle_exec(ctx, p, true, bprm, NULL);
}

SEC("tracepoint/sched/sched_process_exec")
int tracepoint__sched__sched_process_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	const char *filename = (const char *)ctx + (ctx->__data_loc_filename & 0xFFFF);

	ktrail_forget_pending(ctx->old_pid, (__u32)bpf_get_current_pid_tgid());
	return ktrail_handle_exec(ctx, ktrail_current(), false, NULL, filename);
}

/* btf as for ktrail_handle_exec. */
static __always_inline int ktrail_handle_exit(void *ctx, struct task_struct *task, bool btf)
{
	struct ktrail_exit *e;

	if (ktrail_is_agent_task(task, btf))
		return 0;
	/* One record per process, when its last thread goes. */
	if (!ktrail_group_dead(task, btf))
		return 0;
	e = ktrail_record_begin(sizeof(*e), KTRAIL_HOOK_EXIT);
	if (!e)
		return 0;
	e->exit_code = KTRAIL_RD(btf, task, exit_code);
	e->_pad0 = 0;
	ktrail_fill_header_as(&e->hdr, task, btf, KTRAIL_EV_EXIT, sizeof(*e));
	ktrail_record_end(ctx, e, sizeof(*e), KTRAIL_HOOK_EXIT);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_btf__sched_process_exit, struct task_struct *p)
{
	return ktrail_handle_exit(ctx, p, true);
}

SEC("tracepoint/sched/sched_process_exit")
int tracepoint__sched__sched_process_exit(void *ctx)
{
	return ktrail_handle_exit(ctx, ktrail_current(), false);
}
