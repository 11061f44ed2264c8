/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Extraction helpers shared by every hook: the subject task and its credentials. */
#ifndef KTRAIL_COMMON_BPF_H
#define KTRAIL_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"
#include "core_fixes.bpf.h"
#include "compat.bpf.h"

static __always_inline struct task_struct *ktrail_current(void)
{
	/* bpf_get_current_task_btf() needs 5.11; probe reads keep 5.10 in reach. */
	return (struct task_struct *)bpf_get_current_task();
}

static __always_inline bool ktrail_is_agent(void)
{
	return ktrail_agent_tgid && (bpf_get_current_pid_tgid() >> 32) == ktrail_agent_tgid;
}

static __always_inline void ktrail_read_creds(struct task_struct *task, struct ktrail_creds *c)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);

	c->uid = BPF_CORE_READ(cred, uid.val);
	c->euid = BPF_CORE_READ(cred, euid.val);
	c->suid = BPF_CORE_READ(cred, suid.val);
	c->fsuid = BPF_CORE_READ(cred, fsuid.val);
	c->gid = BPF_CORE_READ(cred, gid.val);
	c->egid = BPF_CORE_READ(cred, egid.val);
	c->sgid = BPF_CORE_READ(cred, sgid.val);
	c->fsgid = BPF_CORE_READ(cred, fsgid.val);
}

static __always_inline void ktrail_read_cred_caps(struct task_struct *task, __u64 caps[3])
{
	const struct cred *cred = BPF_CORE_READ(task, cred);

	caps[0] = ktrail_read_caps(&cred->cap_effective);
	caps[1] = ktrail_read_caps(&cred->cap_permitted);
	caps[2] = ktrail_read_caps(&cred->cap_inheritable);
}

static __always_inline void ktrail_fill_header(struct ktrail_header *h, struct task_struct *task,
					       __u32 type, __u32 size)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	struct pid *tp = BPF_CORE_READ(leader, thread_pid);
	unsigned int level = BPF_CORE_READ(tp, level);
	struct upid upid = {};

	h->boot_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->start_boot_ns = ktrail_task_start_boottime(leader);
	h->type = type;
	h->size = size;
	h->pid = BPF_CORE_READ(task, tgid);
	h->tid = BPF_CORE_READ(task, pid);
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	/* pid namespaces nest at most 32 deep (MAX_PID_NS_LEVEL). */
	bpf_probe_read_kernel(&upid, sizeof(upid), &tp->numbers[level & 31]);
	h->ns_pid = upid.nr;
	h->pid_ns = BPF_CORE_READ(upid.ns, ns.inum);
	h->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	h->loginuid = ktrail_task_loginuid(task);
	h->sessionid = ktrail_task_sessionid(task);
	ktrail_read_creds(task, &h->creds);
	h->flags = 0;
	h->_pad0 = 0;
	h->_pad1 = 0;
	__builtin_memset(h->comm, 0, sizeof(h->comm));
	bpf_probe_read_kernel_str(h->comm, sizeof(h->comm), task->comm);
}

/*
 * The same header from a BTF-typed task (tp_btf arguments): plain loads that the JIT guards
 * with an exception table, instead of ~28 bpf_probe_read_kernel calls. This halves the cost
 * of an exec record; the probe-read twin above serves the classic tracepoint variants, whose
 * task pointer is a scalar the verifier will not let us dereference.
 */
static __always_inline void ktrail_fill_header_btf(struct ktrail_header *h,
						   struct task_struct *task, __u32 type,
						   __u32 size)
{
	struct task_struct *leader = task->group_leader;
	struct pid *tp = leader->thread_pid;
	unsigned int level = tp->level;
	const struct cred *cred = task->cred;
	struct upid upid = {};

	h->boot_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->start_boot_ns = ktrail_task_start_boottime(leader);
	h->type = type;
	h->size = size;
	h->pid = task->tgid;
	h->tid = task->pid;
	h->ppid = task->real_parent->tgid;
	/* Variable index into a flexible array: one probe read keeps the verifier happy. */
	bpf_probe_read_kernel(&upid, sizeof(upid), &tp->numbers[level & 31]);
	h->ns_pid = upid.nr;
	h->pid_ns = BPF_CORE_READ(upid.ns, ns.inum);
	h->mnt_ns = task->nsproxy->mnt_ns->ns.inum;
	h->loginuid = ktrail_task_loginuid(task);
	h->sessionid = ktrail_task_sessionid(task);
	h->creds.uid = cred->uid.val;
	h->creds.euid = cred->euid.val;
	h->creds.suid = cred->suid.val;
	h->creds.fsuid = cred->fsuid.val;
	h->creds.gid = cred->gid.val;
	h->creds.egid = cred->egid.val;
	h->creds.sgid = cred->sgid.val;
	h->creds.fsgid = cred->fsgid.val;
	h->flags = 0;
	h->_pad0 = 0;
	h->_pad1 = 0;
	__builtin_memset(h->comm, 0, sizeof(h->comm));
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

#endif
