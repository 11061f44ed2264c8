// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cgroup creation (cgroup_mkdir): id -> path for container identity, recorded in the kernel so
 * the mapping exists even when the directory is gone before the agent looks. */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int ktrail_handle_cgroup_mkdir(void *ctx, __s32 hierarchy, __u64 id,
						      __u32 level, const char *path)
{
	struct ktrail_cgroup *c;
	long n;

	/* v1 hierarchies on hybrid hosts have their own ids, unrelated to the event's cgroup_id. */
	if (hierarchy != ktrail_cgroup2_hierarchy)
		return 0;
	c = ktrail_scratch();
	if (!c)
		return 0;
	ktrail_fill_header(&c->hdr, ktrail_current(), KTRAIL_EV_CGROUP, sizeof(*c));
	c->id = id;
	c->op = KTRAIL_CGROUP_MKDIR;
	c->level = level;
	c->_pad0 = 0;
	KTRAIL_ZERO(c->path, sizeof(c->path));
	n = bpf_probe_read_kernel_str(c->path, sizeof(c->path), path);
	c->path_len = n > 0 ? (__u32)(n - 1) : 0;
	ktrail_emit(ctx, c, sizeof(*c), KTRAIL_HOOK_CGROUP);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(tp_btf__cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	return ktrail_handle_cgroup_mkdir(ctx, BPF_CORE_READ(cgrp, root, hierarchy_id),
					  BPF_CORE_READ(cgrp, kn, id), BPF_CORE_READ(cgrp, level), path);
}

SEC("tracepoint/cgroup/cgroup_mkdir")
int tracepoint__cgroup__cgroup_mkdir(struct trace_event_raw_cgroup *ctx)
{
	/* __data_loc: low 16 bits are the offset of the string from the record start. */
	const char *path = (const char *)ctx + (ctx->__data_loc_path & 0xffff);

	return ktrail_handle_cgroup_mkdir(ctx, ctx->root, ctx->id, ctx->level, path);
}
