/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Every map and load-time knob, in one place. __weak lets each .bpf.c include this header and
 * `bpftool gen object` merge the copies into one definition. */
#ifndef KTRAIL_MAPS_BPF_H
#define KTRAIL_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#define __KTRAIL_BPF__
#include "ktrail/abi/events.h"

/* Load-time configuration, set through skel->rodata before load. */
const volatile __u32 ktrail_use_perf __weak = 0;          /* 1: perf buffer transport */
const volatile __u64 ktrail_wakeup_bytes __weak = 262144; /* wake the agent past this backlog */
const volatile __u32 ktrail_agent_tgid __weak = 0;        /* never trace the agent itself */
const volatile __u32 ktrail_trace_cred __weak = 1;        /* --events cred */
const volatile __u32 ktrail_trace_exec_failed __weak = 1; /* --events exec */
const volatile __u32 ktrail_trace_ssh __weak = 0;         /* --events ssh */
/* --ssh-exe-names as comm values (16 bytes, NUL padded), compared as two u64 words. */
const volatile __u64 ktrail_ssh_comms[KTRAIL_SSH_COMMS][2] __weak = {};
const volatile __u32 ktrail_ssh_ncomms __weak = 0;
/* Hierarchy id of cgroup2 (cgrp_dfl_root is set up first, so 0); on hybrid hosts the v1
 * hierarchies' ids do not match bpf_get_current_cgroup_id(). */
const volatile __s32 ktrail_cgroup2_hierarchy __weak = 0;
/* Capability checks (capable.bpf.c). */
const volatile __u32 ktrail_cap_policy __weak = 1;        /* 0 off, 1 denials, 2 all */
const volatile __u64 ktrail_cap_always __weak = 0;        /* bitmask: reported one by one */
const volatile __u32 ktrail_cap_by_process __weak = 0;    /* key on tgid, not cgroup */
/* Watched paths (file.bpf.h). */
const volatile __u32 ktrail_trace_file __weak = 0;
const volatile __u32 ktrail_watch_n __weak = 0;
const volatile struct ktrail_watch ktrail_watches[KTRAIL_WATCH_MAX] __weak = {};
const volatile __u32 ktrail_rel_n __weak = 0;
/* The loader puts the KTRAIL_REL_INSIDE rows first: the deep levels of the opened-file walk
 * look at these only. */
const volatile __u32 ktrail_rel_inside_n __weak = 0;
const volatile struct ktrail_watch_rel ktrail_rel[KTRAIL_REL_MAX] __weak = {};
/* 1: a watched directory missing at start lies deeper below its nearest existing ancestor than
 * the opened-file walk reaches, so every successful open is also checked by the path string. */
const volatile __u32 ktrail_watch_missing __weak = 0;
/* Watched directories missing at start, by their nearest existing ancestor; ktrail_miss_deepest:
 * the deepest level of the opened-file walk at which one of these rows can be met. */
const volatile __u32 ktrail_miss_n __weak = 0;
const volatile __u32 ktrail_miss_deepest __weak = 0;
const volatile struct ktrail_watch_miss ktrail_miss[KTRAIL_MISS_MAX] __weak = {};
/* The agent's mount namespace (inode number): callers in another one (containers) are also
 * checked by the path string, since their watched files are not the host's inodes. */
const volatile __u32 ktrail_agent_mntns __weak = 0;
/* 1: some entry is a suffix ("*X"): a path's end is compared too. Per suffix entry, its last
 * 8 bytes (fewer for short entries: the mask keeps the high ones). */
const volatile __u32 ktrail_watch_suffix __weak = 0;
const volatile __u64 ktrail_suffix_tail[KTRAIL_WATCH_MAX] __weak = {};
const volatile __u64 ktrail_suffix_mask[KTRAIL_WATCH_MAX] __weak = {};

/* 1: per-syscall tracepoints carry the 64-bit syscalls; the raw sys_enter/sys_exit programs
 * only look at ia32 (TS_COMPAT) syscalls, which those tracepoints never see on x86_64. Not
 * .rodata: the loader clears it when the per-syscall tracepoints fail to attach after load. */
volatile __u32 ktrail_raw_compat_only __weak = 0;

struct ktrail_hook_stats {
	__u64 emitted;
	__u64 dropped; /* transport full, or no room to track a syscall in flight */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} ktrail_rb SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} ktrail_perf SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KTRAIL_HOOK_MAX);
	__type(key, __u32);
	__type(value, struct ktrail_hook_stats);
} ktrail_stats SEC(".maps") __weak;

/* Per CPU: bytes submitted to the ring since this CPU last asked it how much is pending
 * (compat.bpf.h, ktrail_wakeup_flags). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ktrail_wake_acc SEC(".maps") __weak;

/* Records are built here, not on the 512-byte BPF stack, then copied to the transport. */
union ktrail_scratch {
	struct ktrail_exec exec;
	struct ktrail_exec_failed exec_failed;
	struct ktrail_exit exit;
	struct ktrail_cred cred;
	struct ktrail_ssh_accept ssh_accept;
	struct ktrail_ssh_log ssh_log;
	struct ktrail_ssh_pam ssh_pam;
	struct ktrail_cgroup cgroup;
	struct ktrail_capable capable;
	struct ktrail_file file;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, union ktrail_scratch);
} ktrail_scratch_map SEC(".maps") __weak;

/* A syscall in flight, between sys_enter and sys_exit, keyed by tid. */
struct ktrail_pending {
	__u64 args[6];
	__u64 cap_old[3];
	struct ktrail_creds old_creds;
	__u32 syscall; /* enum ktrail_cred_syscall */
	__u32 compat;
	/* fd-based file calls: the inode's attributes before the call */
	__u32 file_mode;
	__u32 file_uid;
	__u32 file_gid;
	__u32 file_known;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct ktrail_pending);
} ktrail_pending_map SEC(".maps") __weak;

/* Capability aggregation: no LRU, so a busy key never evicts a rare one; when full, the
 * check is reported on its own (KTRAIL_CAP_OVERFLOW) and counted. The agent evicts idle keys. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct ktrail_cap_key);
	__type(value, struct ktrail_cap_agg);
} ktrail_cap_agg_map SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KTRAIL_CAPC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ktrail_cap_counters SEC(".maps") __weak;

/* kprobe variant: cap_capable's arguments, from entry to return, keyed by tid. */
struct ktrail_cap_pending {
	__u64 cred;
	__s32 cap;
	__u32 opts;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct ktrail_cap_pending);
} ktrail_cap_pending_map SEC(".maps") __weak;

/* The per-syscall file exits hand the call (in ktrail_file_tmp) to one program here, so the
 * heavy matcher is verified once instead of once per syscall tracepoint. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ktrail_file_progs SEC(".maps") __weak;

/* A path is assembled here: the directory walked backwards ending at KTRAIL_FILE_SPLIT - 1,
 * the caller's string from KTRAIL_FILE_SPLIT on. Sized so masked offsets stay inside. */
#define KTRAIL_FILE_SPLIT 1024
#define KTRAIL_FILE_TMP 2048
struct ktrail_file_tmp {
	/* The call, handed to the global (separately verified) functions of file.bpf.h. */
	__u64 args[6];
	__s64 ret;
	__u32 kind;
	__u32 compat;
	__u32 old_mode, old_uid, old_gid, old_known;
	__u32 by_inode; /* open: a candidate by the opened file's inode: path from its dentries */
	__u32 by_path;  /* open: the caller's path string may be matched too */
	/* Per buffer: where the resolved path starts, its length, KTRAIL_FILE_* flags. */
	__u32 start[2], plen[2], flags[2];
	__u32 _pad0;
	char buf[2][KTRAIL_FILE_TMP + KTRAIL_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ktrail_file_tmp);
} ktrail_file_tmp_map SEC(".maps") __weak;

#endif
