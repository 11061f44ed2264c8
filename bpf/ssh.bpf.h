/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sshd helpers shared by the raw-syscall dispatcher (cred.bpf.c: accept and log writes) and the
 * libpam uprobes (ssh.bpf.c). Only processes whose comm is in --ssh-exe-names AND that hold
 * CAP_SETUID (the listener and the privileged monitor) are looked at: a user's process renamed
 * "sshd" cannot forge log lines, and the unprivileged children's traffic is never read.
 */
#ifndef KTRAIL_SSH_BPF_H
#define KTRAIL_SSH_BPF_H

#include "common.bpf.h"
#include <bpf/bpf_endian.h>

/* Macros are not in BTF, so vmlinux.h lacks them. */
#define KTRAIL_AF_UNIX 1
#define KTRAIL_AF_INET 2
#define KTRAIL_AF_INET6 10
#define KTRAIL_SOCK_STREAM 1
#define KTRAIL_SOCK_DGRAM 2
#define KTRAIL_TCP_LISTEN 10
#define KTRAIL_S_IFMT 0170000
#define KTRAIL_S_IFSOCK 0140000
#define KTRAIL_S_IFREG 0100000
#define KTRAIL_O_APPEND 02000
#define KTRAIL_CAP_SETUID 7
#define KTRAIL_SSH_MAX_FDS 32 /* fds searched for the client's TCP socket */

static __always_inline bool ktrail_ssh_comm(void)
{
	__u64 comm[2] = {};
	__u32 i;

	bpf_get_current_comm(comm, sizeof(comm));
	for (i = 0; i < KTRAIL_SSH_COMMS; i++) {
		if (i >= ktrail_ssh_ncomms)
			break;
		if (comm[0] == ktrail_ssh_comms[i][0] && comm[1] == ktrail_ssh_comms[i][1])
			return true;
	}
	return false;
}

static __always_inline bool ktrail_ssh_privileged(struct task_struct *task)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);
	return (ktrail_read_caps(&cred->cap_effective) >> KTRAIL_CAP_SETUID) & 1;
}

/* The cheap test first: a comm compare rejects every other process. */
static __always_inline bool ktrail_ssh_wanted(struct task_struct *task)
{
	return ktrail_trace_ssh && ktrail_ssh_comm() && ktrail_ssh_privileged(task);
}

static __always_inline struct file *ktrail_task_fd(struct task_struct *task, long fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	struct file *f = NULL;

	if (fd < 0 || fd >= max)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline __u32 ktrail_file_type(struct file *f)
{
	return BPF_CORE_READ(f, f_inode, i_mode) & KTRAIL_S_IFMT;
}

static __always_inline void ktrail_sock_addrs(struct sock *sk, struct ktrail_sockaddr *peer,
					      struct ktrail_sockaddr *local)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	peer->family = family;
	local->family = family;
	peer->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	local->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (family == KTRAIL_AF_INET) {
		__u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__u32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(peer->addr, &d, 4);
		__builtin_memcpy(local->addr, &s, 4);
	} else if (family == KTRAIL_AF_INET6) {
		ktrail_sock_v6_addrs(sk, peer->addr, local->addr);
	}
}

/* A connected (non-listening) TCP socket, or NULL. */
static __always_inline struct sock *ktrail_file_tcp(struct file *f)
{
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!f || ktrail_file_type(f) != KTRAIL_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	if (BPF_CORE_READ(sock, type) != KTRAIL_SOCK_STREAM)
		return NULL;
	sk = BPF_CORE_READ(sock, sk);
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != KTRAIL_AF_INET && family != KTRAIL_AF_INET6)
		return NULL;
	if (BPF_CORE_READ(sk, __sk_common.skc_state) == KTRAIL_TCP_LISTEN)
		return NULL;
	return sk;
}

/* The sshd monitor holds exactly one connected TCP socket: the client's. */
static __always_inline void ktrail_find_tcp_peer(struct task_struct *task,
						 struct ktrail_sockaddr *peer,
						 struct ktrail_sockaddr *local)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	int i;

	for (i = 0; i < KTRAIL_SSH_MAX_FDS; i++) {
		struct file *f = NULL;
		struct sock *sk;

		if (i >= max)
			break;
		bpf_probe_read_kernel(&f, sizeof(f), &fds[i]);
		sk = ktrail_file_tcp(f);
		if (sk) {
			ktrail_sock_addrs(sk, peer, local);
			return;
		}
	}
}

/* accept()/accept4() returned fd: report both ends from the socket itself. */
static __always_inline void ktrail_ssh_exit_accept(void *ctx, struct ktrail_pending *p, long ret)
{
	struct task_struct *task = ktrail_current();
	struct ktrail_ssh_accept *e;
	struct sock *sk;

	if (ret < 0)
		return;
	sk = ktrail_file_tcp(ktrail_task_fd(task, ret));
	if (!sk)
		return;
	e = ktrail_scratch();
	if (!e)
		return;
	KTRAIL_ZERO(e, sizeof(*e));
	ktrail_sock_addrs(sk, &e->peer, &e->local);
	e->fd = (__s32)ret;
	e->syscall = p->syscall;
	ktrail_fill_header(&e->hdr, task, KTRAIL_EV_SSH_ACCEPT, sizeof(*e));
	ktrail_emit(ctx, e, sizeof(*e), KTRAIL_HOOK_SSH_ACCEPT);
}

/* Which kind of log destination fd is; 0 = not one (TCP, pipes, ptys: never read). */
static __always_inline __u32 ktrail_log_fd_kind(struct task_struct *task, long fd)
{
	struct file *f = ktrail_task_fd(task, fd);
	__u32 type;

	if (!f)
		return 0;
	if (fd == 2)
		return KTRAIL_SSH_LOG_STDERR;
	type = ktrail_file_type(f);
	if (type == KTRAIL_S_IFREG)
		return (BPF_CORE_READ(f, f_flags) & KTRAIL_O_APPEND) ? KTRAIL_SSH_LOG_FILE : 0;
	if (type == KTRAIL_S_IFSOCK) {
		struct socket *sock = BPF_CORE_READ(f, private_data);
		if (BPF_CORE_READ(sock, type) == KTRAIL_SOCK_DGRAM &&
		    BPF_CORE_READ(sock, sk, __sk_common.skc_family) == KTRAIL_AF_UNIX)
			return KTRAIL_SSH_LOG_SYSLOG;
	}
	return 0;
}

/* A write by a privileged sshd to a log destination: copy what was written (bounded). Read at
 * sys_exit, so only bytes the kernel accepted are reported and the page is faulted in. */
static __always_inline void ktrail_ssh_exit_log(void *ctx, struct ktrail_pending *p, long ret)
{
	struct task_struct *task = ktrail_current();
	struct ktrail_ssh_log *e;
	const void *buf = (const void *)p->args[1];
	__u64 len = p->args[2];
	__u32 kind;

	if (ret <= 0)
		return;
	kind = ktrail_log_fd_kind(task, (long)(int)p->args[0]);
	if (!kind)
		return;
	if (p->syscall == KTRAIL_SYS_WRITEV || p->syscall == KTRAIL_SYS_SENDMSG) {
		struct iovec iov = {};
		const struct iovec *iovp = (const struct iovec *)p->args[1];
		if (p->syscall == KTRAIL_SYS_SENDMSG) {
			struct user_msghdr msg = {};
			if (bpf_probe_read_user(&msg, sizeof(msg), (void *)p->args[1]))
				return;
			iovp = msg.msg_iov;
		}
		/* First iovec only: syslog(3) and sshd's log writer use one buffer. */
		if (bpf_probe_read_user(&iov, sizeof(iov), iovp))
			return;
		buf = iov.iov_base;
		len = iov.iov_len;
	}
	e = ktrail_scratch();
	if (!e)
		return;
	if (len > (__u64)ret)
		len = ret;
	if (len > KTRAIL_SSH_LOG_MAX)
		len = KTRAIL_SSH_LOG_MAX;
	/* Keep the verifier's bound on len visible after clang's rewrite of the clamp. */
	asm volatile("%[len] &= 0x3ff" : [len] "+r"(len));
	if (len > KTRAIL_SSH_LOG_MAX)
		len = KTRAIL_SSH_LOG_MAX;
	e->ret = ret;
	e->fd = (__s32)p->args[0];
	e->syscall = p->syscall;
	e->fd_kind = kind;
	e->len = 0;
	if (len && bpf_probe_read_user(e->data, len, buf) == 0)
		e->len = len;
	ktrail_fill_header(&e->hdr, task, KTRAIL_EV_SSH_LOG,
			   offsetof(struct ktrail_ssh_log, data) + e->len);
	ktrail_emit(ctx, e, e->hdr.size, KTRAIL_HOOK_SSH_LOG);
}

static __always_inline void ktrail_ssh_exit(void *ctx, struct ktrail_pending *p, long ret)
{
	if (p->syscall == KTRAIL_SYS_ACCEPT || p->syscall == KTRAIL_SYS_ACCEPT4)
		ktrail_ssh_exit_accept(ctx, p, ret);
	else
		ktrail_ssh_exit_log(ctx, p, ret);
}

#endif
