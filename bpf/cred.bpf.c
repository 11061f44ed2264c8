// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Credential changes (setuid family, setgroups, capset) and failed execs, from the raw
 * syscall tracepoints. sys_enter snapshots the request and the credentials before the call;
 * sys_exit reports the result and the credentials after it, so denials are as visible as
 * successes. Syscalls we do not watch leave after a table lookup (raw hooks) or never reach
 * us at all (per-syscall tracepoints, the default where tracefs has them).
 */
#include "common.bpf.h"
#include "ssh.bpf.h"
#include "file.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define KTRAIL_NR_MAX 512 /* above both tables' highest syscall number */

/*
 * Syscall number -> enum ktrail_cred_syscall (0 = not watched), one table per ABI, built at
 * compile time into .rodata. sys_enter/sys_exit run for every syscall on the host, so the
 * common case must be a bounds check and two loads, not a compare chain (the BPF backend has
 * no jump tables).
 */
static const __u8 ktrail_nr64[KTRAIL_NR_MAX] = { /* arch/x86/entry/syscalls/syscall_64.tbl */
	[105] = KTRAIL_SYS_SETUID,    [106] = KTRAIL_SYS_SETGID,
	[113] = KTRAIL_SYS_SETREUID,  [114] = KTRAIL_SYS_SETREGID,
	[116] = KTRAIL_SYS_SETGROUPS, [117] = KTRAIL_SYS_SETRESUID,
	[119] = KTRAIL_SYS_SETRESGID, [122] = KTRAIL_SYS_SETFSUID,
	[123] = KTRAIL_SYS_SETFSGID,  [126] = KTRAIL_SYS_CAPSET,
	[59] = KTRAIL_SYS_EXECVE,     [322] = KTRAIL_SYS_EXECVEAT,
	/* sshd processes only (ktrail_ssh_wanted): accepts and log writes. */
	[43] = KTRAIL_SYS_ACCEPT,     [288] = KTRAIL_SYS_ACCEPT4,
	[1] = KTRAIL_SYS_WRITE,       [20] = KTRAIL_SYS_WRITEV,
	[44] = KTRAIL_SYS_SENDTO,     [46] = KTRAIL_SYS_SENDMSG,
	/* File syscalls, checked against the watch list at sys_exit (file.bpf.h). */
	[2] = KTRAIL_SYS_OPEN,        [257] = KTRAIL_SYS_OPENAT,
	[437] = KTRAIL_SYS_OPENAT2,   [85] = KTRAIL_SYS_CREAT,
	[90] = KTRAIL_SYS_CHMOD,      [91] = KTRAIL_SYS_FCHMOD,
	[268] = KTRAIL_SYS_FCHMODAT,  [452] = KTRAIL_SYS_FCHMODAT2,
	[92] = KTRAIL_SYS_CHOWN,      [93] = KTRAIL_SYS_FCHOWN,
	[94] = KTRAIL_SYS_LCHOWN,     [260] = KTRAIL_SYS_FCHOWNAT,
	[82] = KTRAIL_SYS_RENAME,     [264] = KTRAIL_SYS_RENAMEAT,
	[316] = KTRAIL_SYS_RENAMEAT2, [87] = KTRAIL_SYS_UNLINK,
	[263] = KTRAIL_SYS_UNLINKAT,  [76] = KTRAIL_SYS_TRUNCATE,
	[77] = KTRAIL_SYS_FTRUNCATE,  [188] = KTRAIL_SYS_SETXATTR,
	[189] = KTRAIL_SYS_LSETXATTR, [190] = KTRAIL_SYS_FSETXATTR,
};

/* arch/x86/entry/syscalls/syscall_32.tbl: an ia32 binary must not slip past. The 16-bit
 * variants (23, 46, ...) carry 16-bit ids; the agent widens 0xffff. */
static const __u8 ktrail_nr32[KTRAIL_NR_MAX] = {
	[213] = KTRAIL_SYS_SETUID,    [23] = KTRAIL_SYS_SETUID,
	[214] = KTRAIL_SYS_SETGID,    [46] = KTRAIL_SYS_SETGID,
	[203] = KTRAIL_SYS_SETREUID,  [70] = KTRAIL_SYS_SETREUID,
	[204] = KTRAIL_SYS_SETREGID,  [71] = KTRAIL_SYS_SETREGID,
	[206] = KTRAIL_SYS_SETGROUPS, [81] = KTRAIL_SYS_SETGROUPS,
	[208] = KTRAIL_SYS_SETRESUID, [164] = KTRAIL_SYS_SETRESUID,
	[210] = KTRAIL_SYS_SETRESGID, [170] = KTRAIL_SYS_SETRESGID,
	[215] = KTRAIL_SYS_SETFSUID,  [138] = KTRAIL_SYS_SETFSUID,
	[216] = KTRAIL_SYS_SETFSGID,  [139] = KTRAIL_SYS_SETFSGID,
	[185] = KTRAIL_SYS_CAPSET,
	[11] = KTRAIL_SYS_EXECVE,     [358] = KTRAIL_SYS_EXECVEAT,
	/* File syscalls (the 16-bit-id chown variants 16, 95, 182 are not watched). */
	[5] = KTRAIL_SYS_OPEN,        [295] = KTRAIL_SYS_OPENAT,
	[437] = KTRAIL_SYS_OPENAT2,   [8] = KTRAIL_SYS_CREAT,
	[15] = KTRAIL_SYS_CHMOD,      [94] = KTRAIL_SYS_FCHMOD,
	[306] = KTRAIL_SYS_FCHMODAT,  [452] = KTRAIL_SYS_FCHMODAT2,
	[212] = KTRAIL_SYS_CHOWN,     [207] = KTRAIL_SYS_FCHOWN,
	[198] = KTRAIL_SYS_LCHOWN,    [298] = KTRAIL_SYS_FCHOWNAT,
	[38] = KTRAIL_SYS_RENAME,     [302] = KTRAIL_SYS_RENAMEAT,
	[353] = KTRAIL_SYS_RENAMEAT2, [10] = KTRAIL_SYS_UNLINK,
	[301] = KTRAIL_SYS_UNLINKAT,  [92] = KTRAIL_SYS_TRUNCATE,
	[93] = KTRAIL_SYS_FTRUNCATE,  [226] = KTRAIL_SYS_SETXATTR,
	[227] = KTRAIL_SYS_LSETXATTR, [228] = KTRAIL_SYS_FSETXATTR,
};

static __always_inline __u32 ktrail_syscall_kind(long nr, bool compat)
{
	if ((unsigned long)nr >= KTRAIL_NR_MAX)
		return 0;
	return compat ? ktrail_nr32[nr] : ktrail_nr64[nr];
}

static __always_inline __u32 ktrail_syscall_hook(__u32 kind)
{
	if (ktrail_is_file_kind(kind))
		return KTRAIL_HOOK_FILE;
	if (kind == KTRAIL_SYS_ACCEPT || kind == KTRAIL_SYS_ACCEPT4)
		return KTRAIL_HOOK_SSH_ACCEPT;
	if (kind >= KTRAIL_SYS_WRITE)
		return KTRAIL_HOOK_SSH_LOG;
	return kind >= KTRAIL_SYS_EXECVE ? KTRAIL_HOOK_EXEC_FAILED : KTRAIL_HOOK_CRED;
}

static __always_inline void ktrail_enter(__u32 kind, bool compat, const __u64 args[6])
{
	struct task_struct *task = ktrail_current();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ktrail_pending p = {};
	int i;

	if (ktrail_is_file_kind(kind)) {
		if (!ktrail_trace_file)
			return;
		p.syscall = kind;
		p.compat = compat;
		for (i = 0; i < 6; i++)
			p.args[i] = args[i];
		ktrail_file_enter(&p);
		if (bpf_map_update_elem(&ktrail_pending_map, &tid, &p, BPF_ANY))
			ktrail_count(KTRAIL_HOOK_FILE, true);
		return;
	}
	if (kind >= KTRAIL_SYS_ACCEPT) {
		if (!ktrail_ssh_wanted(task))
			return;
	} else if (kind >= KTRAIL_SYS_EXECVE ? !ktrail_trace_exec_failed : !ktrail_trace_cred) {
		return;
	}
	p.syscall = kind;
	p.compat = compat;
	for (i = 0; i < 6; i++)
		p.args[i] = args[i];
	if (kind < KTRAIL_SYS_EXECVE) {
		ktrail_read_creds(task, &p.old_creds);
		ktrail_read_cred_caps(task, p.cap_old);
	}
	if (bpf_map_update_elem(&ktrail_pending_map, &tid, &p, BPF_ANY))
		ktrail_count(ktrail_syscall_hook(kind), true);
}

/* A failed execve/execveat: the caller's memory is intact, so its path is still readable.
 * Frequent where launchers search PATH with execvp(), so it is built in place in the ring. */
static __always_inline void ktrail_exit_exec(void *ctx, __u32 kind, bool compat, const __u64 args[6],
					     long ret)
{
	struct ktrail_exec_failed *e = ktrail_record_begin(sizeof(*e), KTRAIL_HOOK_EXEC_FAILED);
	const char *path;
	long n;

	if (!e)
		return;
	e->ret = ret;
	e->syscall = kind;
	if (kind == KTRAIL_SYS_EXECVEAT) {
		e->dirfd = (__s32)args[0];
		path = (const char *)args[1];
		e->at_flags = (__u32)args[4];
	} else {
		e->dirfd = -100; /* AT_FDCWD */
		path = (const char *)args[0];
		e->at_flags = 0;
	}
	/* By sys_exit the kernel's getname() has faulted the page in, unlike at sys_enter. The
	 * read NUL-terminates (and zeroes the buffer when it faults): no zeroing first. */
	n = bpf_probe_read_user_str(e->filename, sizeof(e->filename), path);
	e->filename_len = n > 0 ? n - 1 : 0;
	ktrail_fill_header_current(&e->hdr, KTRAIL_EV_EXEC_FAILED, sizeof(*e));
	if (compat)
		e->hdr.flags |= KTRAIL_F_COMPAT_SYSCALL;
	ktrail_record_end(ctx, e, sizeof(*e), KTRAIL_HOOK_EXEC_FAILED);
}

static __always_inline void ktrail_exit_cred(void *ctx, struct ktrail_pending *p, long ret)
{
	struct task_struct *task = ktrail_current();
	struct ktrail_cred *e = ktrail_scratch();
	int i;

	if (!e)
		return;
	KTRAIL_ZERO(e, sizeof(*e));
	e->ret = ret;
	e->syscall = p->syscall;
	for (i = 0; i < 3; i++) {
		e->args[i] = p->args[i];
		e->cap_old[i] = p->cap_old[i];
	}
	e->old_creds = p->old_creds;
	ktrail_read_cred_caps(task, e->cap_new);

	if (p->syscall == KTRAIL_SYS_SETGROUPS) {
		__u32 count = (__u32)p->args[0];
		e->ngroups = count;
		if (count > KTRAIL_MAX_GROUPS)
			count = KTRAIL_MAX_GROUPS;
		/* gid_t is 32-bit except in the ia32 16-bit setgroups (nr 81). */
		/* The mask re-proves the clamp: clang passes the unclamped register on. */
		asm volatile("%[c] &= 0x1f" : [c] "+r"(count));
		if (count && !p->compat)
			bpf_probe_read_user(e->groups, count * sizeof(__u32), (void *)p->args[1]);
	} else if (p->syscall == KTRAIL_SYS_CAPSET) {
		/* _LINUX_CAPABILITY_VERSION_3: two { effective, permitted, inheritable } u32 sets. */
		__u32 d[6] = {};
		if (p->args[1] &&
		    bpf_probe_read_user(d, sizeof(d), (void *)p->args[1]) == 0) {
			e->cap_req[0] = d[0] | ((__u64)d[3] << 32);
			e->cap_req[1] = d[1] | ((__u64)d[4] << 32);
			e->cap_req[2] = d[2] | ((__u64)d[5] << 32);
		}
	}
	ktrail_fill_header(&e->hdr, task, KTRAIL_EV_CRED, sizeof(*e));
	if (p->compat)
		e->hdr.flags |= KTRAIL_F_COMPAT_SYSCALL;
	ktrail_emit(ctx, e, sizeof(*e), KTRAIL_HOOK_CRED);
}

static __always_inline void ktrail_exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ktrail_pending *p = bpf_map_lookup_elem(&ktrail_pending_map, &tid);

	if (!p)
		return;
	if (ktrail_is_file_kind(p->syscall)) {
		ktrail_file_exit(ctx, p->syscall, p->compat, p->args, ret, p);
	} else if (p->syscall >= KTRAIL_SYS_ACCEPT) {
		ktrail_ssh_exit(ctx, p, ret);
	} else if (p->syscall >= KTRAIL_SYS_EXECVE) {
		if (ret < 0)
			ktrail_exit_exec(ctx, p->syscall, p->compat, p->args, ret);
	} else {
		ktrail_exit_cred(ctx, p, ret);
	}
	bpf_map_delete_elem(&ktrail_pending_map, &tid);
}

/* The six syscall arguments from the saved user registers, for the task's ABI. */
static __always_inline void ktrail_regs_args(struct pt_regs *regs, bool compat, __u64 args[6])
{
	if (compat) {
		args[0] = (__u32)regs->bx;
		args[1] = (__u32)regs->cx;
		args[2] = (__u32)regs->dx;
		args[3] = (__u32)regs->si;
		args[4] = (__u32)regs->di;
		args[5] = (__u32)regs->bp;
	} else {
		args[0] = regs->di;
		args[1] = regs->si;
		args[2] = regs->dx;
		args[3] = regs->r10;
		args[4] = regs->r8;
		args[5] = regs->r9;
	}
}

/* The calls the raw tp_btf programs also leave to sys_exit: opens and execs. sshd's write
 * family stays tracked from enter there, since a pending record on the stack of the one raw
 * exit program that carries every class would pass BPF's 512-byte stack (the write family is
 * filtered by sshd's comm at enter, so other tasks' writes make no map update). */
static __always_inline bool ktrail_raw_exit_regs_kind(__u32 kind)
{
	return kind == KTRAIL_SYS_EXECVE || kind == KTRAIL_SYS_EXECVEAT || ktrail_is_open_kind(kind);
}

/* Whether a syscall of this kind can concern the program asking: file kinds only with --watch,
 * sshd's calls only with ssh events, and at a tp_btf raw enter (regs_at_exit) not the opens
 * and execs it leaves to sys_exit. */
static __always_inline bool ktrail_kind_live(__u32 kind, bool regs_at_exit)
{
	if (!kind || (regs_at_exit && ktrail_raw_exit_regs_kind(kind)))
		return false;
	if (ktrail_is_file_kind(kind))
		return ktrail_trace_file;
	if (kind >= KTRAIL_SYS_ACCEPT)
		return ktrail_trace_ssh;
	return true;
}

/* The raw programs' first test, made on every syscall of the host before any helper call:
 * true for a number ours in either ABI (only the ia32 one when per-syscall tracepoints carry
 * the 64-bit calls) that can concern this program. Many 64-bit calls of every process start
 * carry numbers that are ours only in the ia32 table, as file calls or execve (fstat 5 = ia32
 * open, mprotect 10 = unlink, munmap 11 = execve, prlimit64 302 = renameat): without --watch,
 * and at enter for execve, they leave here rather than at the task's ABI test, which costs a
 * helper call. */
static __always_inline bool ktrail_syscall_candidate(long nr, bool regs_at_exit)
{
	if ((unsigned long)nr >= KTRAIL_NR_MAX)
		return false;
	if (ktrail_kind_live(ktrail_nr32[nr], regs_at_exit))
		return true;
	return !ktrail_raw_compat_only && ktrail_kind_live(ktrail_nr64[nr], regs_at_exit);
}

/* Every raw program's test after ktrail_syscall_candidate: only the task's ABI's table, so a
 * 64-bit call whose number is one of ours in the ia32 table (read, write, close, mmap...)
 * leaves before any other helper call. With per-syscall tracepoints attached
 * (ktrail_raw_compat_only) every 64-bit call leaves here if not at the first test. sshd's
 * write family leaves at a comm compare, before any map is touched. 0: not ours. */
static __always_inline __u32 ktrail_raw_kind(long nr, bool compat)
{
	__u32 kind;

	if (ktrail_raw_compat_only && !compat)
		return 0;
	kind = ktrail_syscall_kind(nr, compat);
	if (ktrail_is_file_kind(kind))
		return ktrail_trace_file ? kind : 0;
	if (kind >= KTRAIL_SYS_ACCEPT)
		return ktrail_trace_ssh && ktrail_ssh_comm() ? kind : 0;
	return kind;
}

/* A frame of its own: inlined, its locals would join the open path's in the raw exit program's
 * frame, which then passes the 512-byte combined stack on 5.10-6.12 verifiers. */
static __noinline void ktrail_raw_exec_exit(void *ctx, __u64 *args, __u32 kind, bool compat, long ret)
{
	ktrail_exit_exec(ctx, kind, compat, args, ret);
}

/* ktrail_exit for a syscall known at compile time: each per-syscall program carries only its
 * own class's code, which keeps 40 of them cheap to verify. */
static __always_inline void ktrail_exit_as(void *ctx, long ret, __u32 kind)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ktrail_pending *p = bpf_map_lookup_elem(&ktrail_pending_map, &tid);

	if (!p)
		return;
	if (ktrail_is_file_kind(kind)) {
		bool staged = ktrail_file_stage(p->syscall, false, p->args, ret, p) != NULL;
		bpf_map_delete_elem(&ktrail_pending_map, &tid);
		if (staged) {
			bpf_tail_call(ctx, &ktrail_file_progs, 0);
			ktrail_count(KTRAIL_HOOK_FILE, true);
		}
		return;
	}
	if (kind >= KTRAIL_SYS_ACCEPT)
		ktrail_ssh_exit(ctx, p, ret);
	else if (kind >= KTRAIL_SYS_EXECVE) {
		if (ret < 0)
			ktrail_exit_exec(ctx, p->syscall, p->compat, p->args, ret);
	} else
		ktrail_exit_cred(ctx, p, ret);
	bpf_map_delete_elem(&ktrail_pending_map, &tid);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_btf__sys_enter, struct pt_regs *regs, long id)
{
	bool compat;
	__u32 kind;
	__u64 args[6];

	if (!ktrail_syscall_candidate(id, true))
		return 0;
	compat = ktrail_in_compat_syscall_fast();
	kind = ktrail_raw_kind(id, compat);
	if (!kind)
		return 0;
	if (ktrail_is_agent())
		return 0;
	/* Opens and execs: sys_exit reads their arguments from the registers itself, so no map
	 * update here (a failed exec still has them there, and a successful one is
	 * sched_process_exec's record). */
	if (ktrail_raw_exit_regs_kind(kind))
		return 0;
	/* regs is a BTF pointer here: direct loads, no probe-read helper calls. */
	ktrail_regs_args(regs, compat, args);
	ktrail_enter(kind, compat, args);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf__sys_exit, struct pt_regs *regs, long ret)
{
	/* A direct BTF load: this runs on every syscall exit on the host. */
	long nr = regs->orig_ax;
	bool compat;
	__u32 kind;

	if (!ktrail_syscall_candidate(nr, false))
		return 0;
	compat = ktrail_in_compat_syscall_fast();
	kind = ktrail_raw_kind(nr, compat);
	if (!kind)
		return 0;
	if (ktrail_raw_exit_regs_kind(kind)) {
		__u64 args[6];

		if (ktrail_is_open_kind(kind)) {
			if (ktrail_is_agent())
				return 0;
			/* The saved user registers still hold the arguments at sys_exit. */
			ktrail_regs_args(regs, compat, args);
			ktrail_file_exit(ctx, kind, compat, args, ret, NULL);
			return 0;
		}
		if (ret >= 0 || !ktrail_trace_exec_failed || ktrail_is_agent())
			return 0;
		ktrail_regs_args(regs, compat, args);
		ktrail_raw_exec_exit(ctx, args, kind, compat, ret);
		return 0;
	}
	ktrail_exit(ctx, ret);
	return 0;
}

/* Loads stay explicit: the verifier rejects ctx access through a derived pointer, which a
 * loop produces. The per-syscall and raw_syscalls contexts share this layout. */
static __always_inline void ktrail_ctx_args(struct trace_event_raw_sys_enter *ctx, __u64 args[6])
{
	args[0] = ctx->args[0];
	args[1] = ctx->args[1];
	args[2] = ctx->args[2];
	args[3] = ctx->args[3];
	args[4] = ctx->args[4];
	args[5] = ctx->args[5];
}

SEC("tracepoint/raw_syscalls/sys_enter")
int tracepoint__raw_syscalls__sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	long id = ctx->id;
	bool compat;
	__u32 kind;
	__u64 args[6];

	if (!ktrail_syscall_candidate(id, false))
		return 0;
	compat = ktrail_in_compat_syscall_fast();
	kind = ktrail_raw_kind(id, compat);
	if (!kind || ktrail_is_agent())
		return 0;
	/* The tracepoint already decoded the arguments for the task's ABI. Opens and execs are
	 * tracked from here too: this context has no registers to read them from at exit. */
	ktrail_ctx_args(ctx, args);
	ktrail_enter(kind, compat, args);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int tracepoint__raw_syscalls__sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	/* One load each: clang would otherwise reuse a derived ctx pointer, which the verifier
	 * rejects. */
	long nr = ctx->id, ret = ctx->ret;

	if (!ktrail_syscall_candidate(nr, false) ||
	    !ktrail_raw_kind(nr, ktrail_in_compat_syscall_fast()))
		return 0;
	ktrail_exit(ctx, ret);
	return 0;
}

/*
 * Per-syscall tracepoints (syscalls/sys_enter_<name>, sys_exit_<name>): the preferred hooks.
 * The kernel runs a program only for its own syscall; every other syscall pays one bitmap
 * test in perf_syscall_enter/exit. They never fire for ia32 syscalls on x86_64
 * (ARCH_TRACE_IGNORE_COMPAT_SYSCALLS): the raw programs above cover those
 * (ktrail_raw_compat_only). The contexts carry the 64-bit arguments and the return value.
 */
/* A program may read no ctx byte past its tracepoint's last field, or the kernel refuses to
 * attach it (EACCES, perf_event_set_bpf_prog): only the syscall's own nargs are loaded. */
static __always_inline void ktrail_ctx_args_n(struct trace_event_raw_sys_enter *ctx, __u64 args[6],
					      int n)
{
	args[0] = n > 0 ? ctx->args[0] : 0;
	args[1] = n > 1 ? ctx->args[1] : 0;
	args[2] = n > 2 ? ctx->args[2] : 0;
	args[3] = n > 3 ? ctx->args[3] : 0;
	args[4] = n > 4 ? ctx->args[4] : 0;
	args[5] = n > 5 ? ctx->args[5] : 0;
}

static __always_inline int ktrail_sc_enter(struct trace_event_raw_sys_enter *ctx, __u32 kind,
					   int nargs)
{
	__u64 args[6];

	/* write & co. are ours only for sshd: a comm compare before anything else. */
	if (kind >= KTRAIL_SYS_ACCEPT && kind < KTRAIL_SYS_OPEN &&
	    !(ktrail_trace_ssh && ktrail_ssh_comm()))
		return 0;
	if (ktrail_is_agent())
		return 0;
	ktrail_ctx_args_n(ctx, args, nargs);
	ktrail_enter(kind, false, args);
	return 0;
}

/* The exits that read their arguments from the saved user registers where they can
 * (plan_attach: exit_regs), so that no enter program runs for them: opens (the hottest
 * syscalls), execs (a successful one is sched_process_exec's record and has replaced the
 * registers anyway; a failed one still has its arguments there) and sshd's accept/write family
 * (every write on the host runs this program). */
static __always_inline bool ktrail_exit_regs_kind(__u32 kind)
{
	return kind >= KTRAIL_SYS_EXECVE && kind <= KTRAIL_SYS_CREAT;
}

/* Read where it is tested: held in one local, clang 14 kept the exec filter alive in every
 * per-syscall exit program (23 more instructions in each cred one). */
static __always_inline bool ktrail_regs_readable(void)
{
	return bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs);
}

/* Registers -> arguments -> the class's exit handler. False where the registers cannot be read
 * here: the caller falls back to what sys_enter saved. */
static __always_inline bool ktrail_exit_args(void *ctx, __u32 kind, long ret)
{
	struct pt_regs *regs = ktrail_current_user_regs();
	struct ktrail_pending p = {};

	if (!regs)
		return false;
	ktrail_regs_args(regs, false, p.args);
	if (ktrail_is_open_kind(kind)) {
		ktrail_file_exit_tail(ctx, kind, p.args, ret, NULL);
	} else if (kind >= KTRAIL_SYS_ACCEPT) {
		p.syscall = kind;
		ktrail_ssh_exit(ctx, &p, ret);
	} else {
		ktrail_exit_exec(ctx, kind, false, p.args, ret);
	}
	return true;
}

static __always_inline int ktrail_sc_exit(struct trace_event_raw_sys_exit *ctx, __u32 kind)
{
	long ret = ctx->ret;

	/* Each class's filters come first: most of these calls leave before any other helper call. */
	if (kind >= KTRAIL_SYS_ACCEPT && kind < KTRAIL_SYS_OPEN) {
		if (!(ktrail_trace_ssh && ktrail_ssh_comm()))
			return 0;
		if (ktrail_regs_readable() &&
		    (ktrail_is_agent() || !ktrail_ssh_privileged(ktrail_current())))
			return 0;
	} else if (kind == KTRAIL_SYS_EXECVE || kind == KTRAIL_SYS_EXECVEAT) {
		if (ktrail_regs_readable() &&
		    (ret >= 0 || !ktrail_trace_exec_failed || ktrail_is_agent()))
			return 0;
	} else if (ktrail_is_open_kind(kind)) {
		/* Most failed opens are ENOENT (search paths). No enter program ran for them where
		 * registers are readable, so nothing is pending. */
		if (ktrail_regs_readable() && (!ktrail_trace_file || ret == -2 || ret == -20))
			return 0;
	}
	if (ktrail_exit_regs_kind(kind) && ktrail_exit_args(ctx, kind, ret))
		return 0;
	ktrail_exit_as(ctx, ret, kind);
	return 0;
}

/* The file matcher for the per-syscall exits (ktrail_file_progs[0], filled by the loader). It
 * reads nothing from ctx: tail calls skip the attach-time check of ctx offsets. */
SEC("tracepoint")
int tracepoint__ktrail_file_match(void *ctx)
{
	ktrail_file_finish(ctx);
	return 0;
}

#define KTRAIL_SC(name, kind, nargs)                                                       \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                        \
	int tracepoint__syscalls__sys_enter_##name(struct trace_event_raw_sys_enter *ctx)  \
	{                                                                                  \
		return ktrail_sc_enter(ctx, kind, nargs);                                  \
	}                                                                                  \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                         \
	int tracepoint__syscalls__sys_exit_##name(struct trace_event_raw_sys_exit *ctx)    \
	{                                                                                  \
		return ktrail_sc_exit(ctx, kind);                                          \
	}

/* Name, kind, argument count (include/linux/syscalls.h). Keep in step with kSyscallHooks
 * (userspace/loader/plan.h), which attaches them. */
KTRAIL_SC(setuid, KTRAIL_SYS_SETUID, 1)
KTRAIL_SC(setgid, KTRAIL_SYS_SETGID, 1)
KTRAIL_SC(setreuid, KTRAIL_SYS_SETREUID, 2)
KTRAIL_SC(setregid, KTRAIL_SYS_SETREGID, 2)
KTRAIL_SC(setresuid, KTRAIL_SYS_SETRESUID, 3)
KTRAIL_SC(setresgid, KTRAIL_SYS_SETRESGID, 3)
KTRAIL_SC(setfsuid, KTRAIL_SYS_SETFSUID, 1)
KTRAIL_SC(setfsgid, KTRAIL_SYS_SETFSGID, 1)
KTRAIL_SC(setgroups, KTRAIL_SYS_SETGROUPS, 2)
KTRAIL_SC(capset, KTRAIL_SYS_CAPSET, 2)
KTRAIL_SC(execve, KTRAIL_SYS_EXECVE, 3)
KTRAIL_SC(execveat, KTRAIL_SYS_EXECVEAT, 5)
KTRAIL_SC(accept, KTRAIL_SYS_ACCEPT, 3)
KTRAIL_SC(accept4, KTRAIL_SYS_ACCEPT4, 4)
KTRAIL_SC(write, KTRAIL_SYS_WRITE, 3)
KTRAIL_SC(writev, KTRAIL_SYS_WRITEV, 3)
KTRAIL_SC(sendto, KTRAIL_SYS_SENDTO, 6)
KTRAIL_SC(sendmsg, KTRAIL_SYS_SENDMSG, 3)
KTRAIL_SC(open, KTRAIL_SYS_OPEN, 3)
KTRAIL_SC(openat, KTRAIL_SYS_OPENAT, 4)
KTRAIL_SC(openat2, KTRAIL_SYS_OPENAT2, 4)
KTRAIL_SC(creat, KTRAIL_SYS_CREAT, 2)
KTRAIL_SC(chmod, KTRAIL_SYS_CHMOD, 2)
KTRAIL_SC(fchmod, KTRAIL_SYS_FCHMOD, 2)
KTRAIL_SC(fchmodat, KTRAIL_SYS_FCHMODAT, 3)
KTRAIL_SC(fchmodat2, KTRAIL_SYS_FCHMODAT2, 4)
KTRAIL_SC(chown, KTRAIL_SYS_CHOWN, 3)
KTRAIL_SC(fchown, KTRAIL_SYS_FCHOWN, 3)
KTRAIL_SC(lchown, KTRAIL_SYS_LCHOWN, 3)
KTRAIL_SC(fchownat, KTRAIL_SYS_FCHOWNAT, 5)
KTRAIL_SC(rename, KTRAIL_SYS_RENAME, 2)
KTRAIL_SC(renameat, KTRAIL_SYS_RENAMEAT, 4)
KTRAIL_SC(renameat2, KTRAIL_SYS_RENAMEAT2, 5)
KTRAIL_SC(unlink, KTRAIL_SYS_UNLINK, 1)
KTRAIL_SC(unlinkat, KTRAIL_SYS_UNLINKAT, 3)
KTRAIL_SC(truncate, KTRAIL_SYS_TRUNCATE, 2)
KTRAIL_SC(ftruncate, KTRAIL_SYS_FTRUNCATE, 2)
KTRAIL_SC(setxattr, KTRAIL_SYS_SETXATTR, 5)
KTRAIL_SC(lsetxattr, KTRAIL_SYS_LSETXATTR, 5)
KTRAIL_SC(fsetxattr, KTRAIL_SYS_FSETXATTR, 5)
