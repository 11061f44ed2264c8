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

/* The same for task, the current task: btf (a tp_btf argument), a plain load instead of the
 * helper call. */
static __always_inline bool ktrail_is_agent_task(struct task_struct *task, bool btf)
{
	if (!btf)
		return ktrail_is_agent();
	return ktrail_agent_tgid && task->tgid == ktrail_agent_tgid;
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

/*
 * The common record header for task (the current task). btf: task is a BTF pointer (tp_btf
 * arguments), read with plain loads instead of ~28 bpf_probe_read_kernel calls; this halves the
 * cost of an exec record. The classic tracepoint variants pass the scalar current task.
 */
static __always_inline void ktrail_fill_header_as(struct ktrail_header *h, struct task_struct *task,
						  bool btf, __u32 type, __u32 size)
{
	struct task_struct *leader = KTRAIL_RD(btf, task, group_leader);
	struct pid *tp = KTRAIL_RD(btf, leader, thread_pid);
	unsigned int level = KTRAIL_RD(btf, tp, level);
	const struct cred *cred = KTRAIL_RD(btf, task, cred);

	h->boot_ns = bpf_ktime_get_boot_ns();
	/* What bpf_get_current_cgroup_id() returns (task_dfl_cgroup(current)->kn->id), without
	 * the helper call. */
	if (btf)
		h->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	else
		h->cgroup_id = bpf_get_current_cgroup_id();
	h->start_boot_ns = ktrail_task_start_boottime(leader, btf);
	h->type = type;
	h->size = size;
	h->pid = KTRAIL_RD(btf, task, tgid);
	h->tid = KTRAIL_RD(btf, task, pid);
	h->ppid = KTRAIL_RD(btf, task, real_parent, tgid);
	if (btf && level == 0) {
		/* The initial pid namespace, the common case: plain loads. */
		h->ns_pid = tp->numbers[0].nr;
		h->pid_ns = tp->numbers[0].ns->ns.inum;
	} else {
		struct upid upid = {};

		/* A variable index into a flexible array: one probe read keeps the verifier happy.
		 * pid namespaces nest at most 32 deep (MAX_PID_NS_LEVEL). */
		bpf_probe_read_kernel(&upid, sizeof(upid), &tp->numbers[level & 31]);
		h->ns_pid = upid.nr;
		h->pid_ns = BPF_CORE_READ(upid.ns, ns.inum);
	}
	h->mnt_ns = KTRAIL_RD(btf, task, nsproxy, mnt_ns, ns.inum);
	h->loginuid = ktrail_task_loginuid(task, btf);
	h->sessionid = ktrail_task_sessionid(task, btf);
	h->creds.uid = KTRAIL_RD(btf, cred, uid.val);
	h->creds.euid = KTRAIL_RD(btf, cred, euid.val);
	h->creds.suid = KTRAIL_RD(btf, cred, suid.val);
	h->creds.fsuid = KTRAIL_RD(btf, cred, fsuid.val);
	h->creds.gid = KTRAIL_RD(btf, cred, gid.val);
	h->creds.egid = KTRAIL_RD(btf, cred, egid.val);
	h->creds.sgid = KTRAIL_RD(btf, cred, sgid.val);
	h->creds.fsgid = KTRAIL_RD(btf, cred, fsgid.val);
	h->flags = 0;
	h->_pad0 = 0;
	h->_pad1 = 0;
	/* Every caller's task is current. Two word loads instead of bpf_get_current_comm(),
	 * which pads with NULs: older kernels (strlcpy in __set_task_comm) may leave stale bytes
	 * after the NUL, and the agent reads up to the NUL. */
	if (btf) {
		*(__u64 *)&h->comm[0] = *(__u64 *)&task->comm[0];
		*(__u64 *)&h->comm[8] = *(__u64 *)&task->comm[8];
	} else {
		bpf_get_current_comm(h->comm, sizeof(h->comm));
	}
}

static __always_inline void ktrail_fill_header(struct ktrail_header *h, struct task_struct *task,
					       __u32 type, __u32 size)
{
	ktrail_fill_header_as(h, task, false, type, size);
}

/* The header of the current task: BTF loads through bpf_get_current_task_btf() (5.11, commit
 * 3ca1032ab7ab), probe reads before. */
static __always_inline void ktrail_fill_header_current(struct ktrail_header *h, __u32 type,
						       __u32 size)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf))
		ktrail_fill_header_as(h, bpf_get_current_task_btf(), true, type, size);
	else
		ktrail_fill_header_as(h, ktrail_current(), false, type, size);
}

#endif
