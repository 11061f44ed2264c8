/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The transport: ring buffer with batched wakeups, or perf buffer. Chosen at load time. */
#ifndef KTRAIL_COMPAT_BPF_H
#define KTRAIL_COMPAT_BPF_H

#include "maps.bpf.h"

static __always_inline void ktrail_count(__u32 hook, bool dropped)
{
	struct ktrail_hook_stats *s = bpf_map_lookup_elem(&ktrail_stats, &hook);
	if (!s)
		return;
	if (dropped)
		s->dropped++;
	else
		s->emitted++;
}

/* clang's BPF backend refuses to inline large memsets; sizes here are multiples of 8. */
#define KTRAIL_ZERO(ptr, bytes)                                                   \
	do {                                                                      \
		volatile __u64 *__z = (volatile __u64 *)(ptr);                                    \
		_Pragma("unroll") for (int __i = 0; __i < (bytes) / 8; __i++)     \
			__z[__i] = 0;                                             \
	} while (0)

static __always_inline void *ktrail_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&ktrail_scratch_map, &zero);
}

/*
 * Every wakeup costs the traced task ~16 us (an IPI plus epoll wake), so records are submitted
 * with BPF_RB_NO_WAKEUP and the agent is woken only once ktrail_wakeup_bytes are pending; it
 * also drains on a short timer, which bounds latency when the backlog stays small.
 * Asking the ring (bpf_ringbuf_query) costs a miss on the consumer position the agent writes
 * from the other CPU, so each CPU asks once per 1/16 of the threshold it submitted, not per
 * record; and a backlog above the threshold then forces one wakeup per such step, not one
 * self-IPI per record while the agent catches up.
 */
static __always_inline __u64 ktrail_wakeup_flags(__u64 size)
{
	__u32 zero = 0;
	__u64 *acc = bpf_map_lookup_elem(&ktrail_wake_acc, &zero);

	if (!acc)
		return BPF_RB_NO_WAKEUP;
	*acc += size;
	if (*acc < ktrail_wakeup_bytes / 16)
		return BPF_RB_NO_WAKEUP;
	*acc = 0;
	if (bpf_ringbuf_query(&ktrail_rb, BPF_RB_AVAIL_DATA) >= ktrail_wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void ktrail_emit(void *ctx, void *rec, __u64 size, __u32 hook)
{
	long err;

	if (size > sizeof(union ktrail_scratch))
		size = sizeof(union ktrail_scratch);
	if (ktrail_use_perf)
		err = bpf_perf_event_output(ctx, &ktrail_perf, BPF_F_CURRENT_CPU, rec, size);
	else
		err = bpf_ringbuf_output(&ktrail_rb, rec, size, ktrail_wakeup_flags(size));
	ktrail_count(hook, err != 0);
}

/*
 * A fixed-size record is built in place in the ring buffer (reserve, fill, submit) instead of
 * in the scratch space and copied. With the perf buffer it is built in the scratch space and
 * sent by ktrail_emit. NULL: the ring is full (counted as a drop) or there is no scratch
 * space. size must be a constant; every non-NULL record must reach ktrail_record_end.
 */
static __always_inline void *ktrail_record_begin(__u64 size, __u32 hook)
{
	void *rec;

	if (ktrail_use_perf)
		return ktrail_scratch();
	rec = bpf_ringbuf_reserve(&ktrail_rb, size, 0);
	if (!rec)
		ktrail_count(hook, true);
	return rec;
}

static __always_inline void ktrail_record_end(void *ctx, void *rec, __u64 size, __u32 hook)
{
	if (ktrail_use_perf) {
		ktrail_emit(ctx, rec, size, hook);
		return;
	}
	bpf_ringbuf_submit(rec, ktrail_wakeup_flags(size));
	ktrail_count(hook, false);
}

#endif
