/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one ABI shared by the BPF programs and the agent.
 *
 * Rules (checked by tests/unit/abi_layout_test.cpp against the BPF object's BTF):
 *  - only __u8..__u64 / __s32 / __s64 and fixed char arrays; no int/bool/long/pointers,
 *    because gcc (x86_64) and clang -target bpf must agree on every offset;
 *  - largest fields first, explicit padding, every struct size a multiple of 8;
 *  - enum values are explicit and append-only: old agents must reject, not misread, new types;
 *  - the BPF side writes or zeroes every byte it submits (no kernel memory in padding).
 */
#ifndef KTRAIL_ABI_EVENTS_H
#define KTRAIL_ABI_EVENTS_H

#ifdef __KTRAIL_BPF__
/* vmlinux.h already defines the __u* types for BPF builds. */
#else
#include <linux/types.h>
#endif

#define KTRAIL_ABI_VERSION 1

#define KTRAIL_COMM_LEN 16
#define KTRAIL_TTY_LEN 32
#define KTRAIL_PATH_MAX 512   /* power of two: the verifier bounds copies with a mask */
#define KTRAIL_ARGS_MAX 4096  /* power of two, argv bytes carried per exec */
#define KTRAIL_CWD_DEPTH 24   /* path components walked for the working directory */
#define KTRAIL_MAX_GROUPS 16  /* supplementary groups carried per setgroups */
#define KTRAIL_SSH_LOG_MAX 512 /* power of two: bytes of one sshd log write carried */
#define KTRAIL_SSH_COMMS 4     /* executable names recognised as sshd (--ssh-exe-names) */
#define KTRAIL_PAM_SERVICE_LEN 32
#define KTRAIL_PAM_USER_LEN 128
#define KTRAIL_WATCH_MAX 32     /* --watch entries the kernel filter holds */
#define KTRAIL_WATCH_LEN 128    /* bytes of one watch entry (multiple of 8) */
#define KTRAIL_FILE_DEPTH 16    /* directory levels walked to make a relative path absolute */

enum ktrail_event_type {
	KTRAIL_EV_EXEC = 1,        /* successful execve/execveat (sched_process_exec) */
	KTRAIL_EV_EXEC_FAILED = 2, /* execve/execveat returned an error */
	KTRAIL_EV_EXIT = 3,        /* last thread of a process exited */
	KTRAIL_EV_CRED = 4,        /* setuid family, setgroups, capset: one per call */
	KTRAIL_EV_SSH_ACCEPT = 5,  /* accept()/accept4() >= 0 in an sshd process */
	KTRAIL_EV_SSH_LOG = 6,     /* a privileged sshd wrote a log line (file, syslog, stderr) */
	KTRAIL_EV_SSH_PAM = 7,     /* libpam call by sshd: pam_start args, or a return value */
	KTRAIL_EV_CGROUP = 8,      /* cgroup2 directory created: agent-internal, keeps id -> path */
	KTRAIL_EV_CAPABLE = 9,     /* cap_capable: first of a key, one-by-one cap, or no room */
	KTRAIL_EV_FILE = 10,        /* open/chmod/chown/rename/unlink/truncate/setxattr on a watched path */
	KTRAIL_EV_TYPE_MAX,
};

/* Hook ids: index of the per-hook drop counters (map ktrail_drops). Append-only. */
enum ktrail_hook_id {
	KTRAIL_HOOK_EXEC = 0,
	KTRAIL_HOOK_EXEC_FAILED = 1,
	KTRAIL_HOOK_EXIT = 2,
	KTRAIL_HOOK_CRED = 3,
	KTRAIL_HOOK_SSH_ACCEPT = 4,
	KTRAIL_HOOK_SSH_LOG = 5,
	KTRAIL_HOOK_SSH_PAM = 6,
	KTRAIL_HOOK_CGROUP = 7,
	KTRAIL_HOOK_CAPABLE = 8,
	KTRAIL_HOOK_FILE = 9,
	KTRAIL_HOOK_MAX = 16,
};

/* Credential syscalls, architecture independent (the BPF side maps x86_64 and ia32 numbers). */
enum ktrail_cred_syscall {
	KTRAIL_SYS_SETUID = 1,
	KTRAIL_SYS_SETGID = 2,
	KTRAIL_SYS_SETREUID = 3,
	KTRAIL_SYS_SETREGID = 4,
	KTRAIL_SYS_SETRESUID = 5,
	KTRAIL_SYS_SETRESGID = 6,
	KTRAIL_SYS_SETFSUID = 7,
	KTRAIL_SYS_SETFSGID = 8,
	KTRAIL_SYS_SETGROUPS = 9,
	KTRAIL_SYS_CAPSET = 10,
	KTRAIL_SYS_EXECVE = 11,
	KTRAIL_SYS_EXECVEAT = 12,
	/* Watched in sshd processes only (x86_64 ABI); never reported as cred events. */
	KTRAIL_SYS_ACCEPT = 13,
	KTRAIL_SYS_ACCEPT4 = 14,
	KTRAIL_SYS_WRITE = 15,
	KTRAIL_SYS_WRITEV = 16,
	KTRAIL_SYS_SENDTO = 17,
	KTRAIL_SYS_SENDMSG = 18,
	/* File syscalls, checked against the watch list (KTRAIL_SYS_OPEN..KTRAIL_SYS_FILE_LAST). */
	KTRAIL_SYS_OPEN = 19,
	KTRAIL_SYS_OPENAT = 20,
	KTRAIL_SYS_OPENAT2 = 21,
	KTRAIL_SYS_CREAT = 22,
	KTRAIL_SYS_CHMOD = 23,
	KTRAIL_SYS_FCHMOD = 24,
	KTRAIL_SYS_FCHMODAT = 25,
	KTRAIL_SYS_CHOWN = 26,
	KTRAIL_SYS_FCHOWN = 27,
	KTRAIL_SYS_LCHOWN = 28,
	KTRAIL_SYS_FCHOWNAT = 29,
	KTRAIL_SYS_RENAME = 30,
	KTRAIL_SYS_RENAMEAT = 31,
	KTRAIL_SYS_RENAMEAT2 = 32,
	KTRAIL_SYS_UNLINK = 33,
	KTRAIL_SYS_UNLINKAT = 34,
	KTRAIL_SYS_TRUNCATE = 35,
	KTRAIL_SYS_FTRUNCATE = 36,
	KTRAIL_SYS_SETXATTR = 37,
	KTRAIL_SYS_LSETXATTR = 38,
	KTRAIL_SYS_FSETXATTR = 39,
	KTRAIL_SYS_FCHMODAT2 = 40,
	KTRAIL_SYS_FILE_LAST = 40,
};

/* ktrail_capable.origin: why this record exists. */
enum ktrail_cap_origin {
	KTRAIL_CAP_FIRST = 1,    /* first check of an aggregation key: count = 1 */
	KTRAIL_CAP_SUMMARY = 2,  /* made by the agent from the aggregation map: count since last */
	KTRAIL_CAP_ALWAYS = 3,   /* a capability in --cap-always: every check reported */
	KTRAIL_CAP_OVERFLOW = 4, /* aggregation map full: reported alone rather than lost */
};

/* ktrail_capable.audit */
enum ktrail_cap_audit {
	KTRAIL_CAP_AUDIT_UNKNOWN = 0, /* the hook does not see the options (tp_btf/cap_capable) */
	KTRAIL_CAP_AUDIT_YES = 1,
	KTRAIL_CAP_AUDIT_NO = 2,      /* CAP_OPT_NOAUDIT: the kernel itself does not audit it */
};

/* ktrail_capable.hook: the variant that saw the check. */
enum ktrail_cap_hook {
	KTRAIL_CAP_HOOK_TP_BTF = 1,
	KTRAIL_CAP_HOOK_FEXIT = 2,
	KTRAIL_CAP_HOOK_KPROBE = 3,
};

/* ktrail_watch.flags */
enum ktrail_watch_flags {
	KTRAIL_WATCH_PREFIX = 1 << 0, /* entry ends in '/': the directory and everything below */
	KTRAIL_WATCH_WRITE = 1 << 1,  /* opens only with write intent (chmod/chown/... always) */
	KTRAIL_WATCH_SUFFIX = 1 << 2, /* entry starts with '*': any path that ends with the rest */
};

/* ktrail_file.flags */
enum ktrail_file_flags {
	KTRAIL_FILE_PATH_TRUNCATED = 1 << 0, /* deeper than KTRAIL_FILE_DEPTH or longer than the buffer */
	KTRAIL_FILE_RELATIVE = 1 << 1,       /* the caller passed a relative path; path is resolved */
	KTRAIL_FILE_BY_FD = 1 << 2,          /* fchmod/fchown/ftruncate/fsetxattr: path from the fd */
	KTRAIL_FILE_RESOLVED = 1 << 3,       /* open: path of the opened file (symlinks, .. resolved) */
	/* No entry matched the caller's path string, but the call may have reached a watched file
	 * through a symlink (a denial, a change): the agent resolves the path and decides. */
	KTRAIL_FILE_CANDIDATE = 1 << 4,
};


/* ktrail_ssh_log.fd_kind: why the write was taken for a log line. */
enum ktrail_ssh_log_fd {
	KTRAIL_SSH_LOG_FILE = 1,   /* regular file opened O_APPEND (sshd -E FILE) */
	KTRAIL_SSH_LOG_SYSLOG = 2, /* AF_UNIX datagram socket (syslog(3) to /dev/log) */
	KTRAIL_SSH_LOG_STDERR = 3, /* fd 2 (sshd -e, or stderr captured by a supervisor) */
};

/* ktrail_ssh_pam.op: which libpam function the record comes from. */
enum ktrail_pam_op {
	KTRAIL_PAM_START = 1,         /* entry: service and user as typed */
	KTRAIL_PAM_AUTHENTICATE = 2,  /* return: 0 = PAM_SUCCESS, 7 = PAM_AUTH_ERR, ... */
	KTRAIL_PAM_ACCT_MGMT = 3,     /* return */
	KTRAIL_PAM_OPEN_SESSION = 4,  /* return; hdr.loginuid/sessionid are the new ones */
	KTRAIL_PAM_CLOSE_SESSION = 5, /* return */
};

/* ktrail_header.flags */
enum ktrail_header_flags {
	KTRAIL_F_COMPAT_SYSCALL = 1 << 0, /* the syscall came through the ia32 entry */
};

/* ktrail_exec.flags */
enum ktrail_exec_flags {
	KTRAIL_EXEC_ARGS_TRUNCATED = 1 << 0,
	KTRAIL_EXEC_FILENAME_TRUNCATED = 1 << 1,
	KTRAIL_EXEC_CWD_TRUNCATED = 1 << 2, /* deeper than KTRAIL_CWD_DEPTH or a name was cut */
	KTRAIL_EXEC_SECUREEXEC = 1 << 3,    /* bprm->secureexec: setuid/setgid bit or file caps */
	KTRAIL_EXEC_SECUREEXEC_KNOWN = 1 << 4, /* hook variant could read bprm */
	KTRAIL_EXEC_ARGC_KNOWN = 1 << 5,    /* argc came from bprm (else count the NULs) */
	KTRAIL_EXEC_CWD_UNREACHABLE = 1 << 6, /* cwd is outside the task's root (chroot/unlinked) */
};

/* The credentials of a task, as struct cred holds them. */
struct ktrail_creds {
	__u32 uid;
	__u32 euid;
	__u32 suid;
	__u32 fsuid;
	__u32 gid;
	__u32 egid;
	__u32 sgid;
	__u32 fsgid;
};

/* Common header: first in every record. */
struct ktrail_header {
	__u64 boot_ns;     /* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME, survives suspend */
	__u64 cgroup_id;   /* cgroup v2 id (inode of the cgroup dir on the unified hierarchy) */
	__u64 start_boot_ns; /* the process's start time: (pid, start) identifies it for good */
	__u32 type;        /* enum ktrail_event_type */
	__u32 size;        /* bytes of this record, header included */
	__u32 pid;         /* tgid */
	__u32 tid;
	__u32 ppid;        /* real parent's tgid */
	__u32 ns_pid;      /* tgid as seen in the task's own pid namespace */
	__u32 mnt_ns;
	__u32 pid_ns;
	__u32 loginuid;    /* (__u32)-1 when unset */
	__u32 sessionid;   /* (__u32)-1 when unset */
	struct ktrail_creds creds; /* the task's credentials when the record was made */
	__u16 flags;       /* enum ktrail_header_flags */
	__u16 _pad0;
	__u32 _pad1;
	char comm[KTRAIL_COMM_LEN];
};

/* Bytes of ktrail_exec.data: the BPF code places cwd and args at offsets masked with
 * KTRAIL_EXEC_PLACE - 1 (filename and cwd end before KTRAIL_EXEC_PLACE), so an access at the
 * largest masked offset must still fit. */
#define KTRAIL_EXEC_PLACE 2048
#define KTRAIL_EXEC_DATA (KTRAIL_EXEC_PLACE + KTRAIL_ARGS_MAX)

/*
 * KTRAIL_EV_EXEC. data is variable length and packed: the filename (filename_len bytes and a
 * NUL), then cwd (cwd_len bytes), then args (args_len bytes); size = offsetof(data) +
 * filename_len + 1 + cwd_len + args_len. A record carries what the exec has, not three fixed
 * buffers: the in-kernel copy into the transport costs per byte.
 */
struct ktrail_exec {
	struct ktrail_header hdr;
	__u32 flags;       /* enum ktrail_exec_flags */
	__u32 argc;        /* true argc (bprm) when ARGC_KNOWN */
	__u32 args_len;    /* bytes of args: NUL-separated strings */
	__u32 cwd_len;     /* bytes of cwd (at most KTRAIL_PATH_MAX): components, leaf first,
			      each NUL-terminated; the agent joins them */
	__u32 filename_len; /* bytes of filename (< KTRAIL_PATH_MAX), bprm->filename as the caller
			       passed it */
	/* Session id (global pid of the session leader); 0 when unknown. Saves the agent reading
	 * /proc/PID/stat for every exec. */
	__u32 sid;
	char tty[KTRAIL_TTY_LEN]; /* tty->name: "pts3" (the agent writes pts/3), "" without one */
	char data[KTRAIL_EXEC_DATA];
};

/* KTRAIL_EV_EXEC_FAILED */
struct ktrail_exec_failed {
	struct ktrail_header hdr;
	__s64 ret;         /* -errno */
	__s32 dirfd;       /* execveat's dirfd; AT_FDCWD (-100) for execve */
	__u32 syscall;     /* KTRAIL_SYS_EXECVE or KTRAIL_SYS_EXECVEAT */
	__u32 at_flags;    /* execveat flags */
	__u32 filename_len;
	char filename[KTRAIL_PATH_MAX]; /* path as attempted, read after the kernel faulted it in */
};

/* KTRAIL_EV_EXIT */
struct ktrail_exit {
	struct ktrail_header hdr;
	__u32 exit_code;   /* raw wait status: (code << 8) | signal */
	__u32 _pad0;
};

/* KTRAIL_EV_CRED */
struct ktrail_cred {
	struct ktrail_header hdr; /* hdr.creds are the credentials AFTER the call */
	__s64 ret;         /* 0 or -errno (setfsuid/setfsgid: the previous fsuid/fsgid) */
	__u64 args[3];     /* requested ids ((__u32)-1 = unchanged), or setgroups count */
	__u64 cap_req[3];  /* capset requested: effective, permitted, inheritable */
	__u64 cap_old[3];  /* capabilities before: effective, permitted, inheritable */
	__u64 cap_new[3];  /* capabilities after */
	struct ktrail_creds old_creds; /* before the call */
	__u32 syscall;     /* enum ktrail_cred_syscall */
	__u32 ngroups;     /* setgroups: requested count */
	__u32 groups[KTRAIL_MAX_GROUPS]; /* setgroups: first requested gids */
};

/* An IPv4 or IPv6 endpoint as the kernel's struct sock holds it. */
struct ktrail_sockaddr {
	__u8 addr[16];     /* IPv4: first 4 bytes; IPv6: all 16 (network byte order) */
	__u16 port;        /* host byte order */
	__u16 family;      /* AF_INET (2), AF_INET6 (10); 0 = none found */
	__u32 _pad0;
};

/* KTRAIL_EV_SSH_ACCEPT: read from the new fd's socket in kernel memory, not the user buffer. */
struct ktrail_ssh_accept {
	struct ktrail_header hdr;
	struct ktrail_sockaddr peer;  /* the client: source */
	struct ktrail_sockaddr local; /* the listener's address: destination */
	__s32 fd;          /* the accepted fd */
	__u32 syscall;     /* KTRAIL_SYS_ACCEPT or KTRAIL_SYS_ACCEPT4 */
};

/* KTRAIL_EV_SSH_LOG. data is variable length: size = offsetof(data) + len. */
struct ktrail_ssh_log {
	struct ktrail_header hdr;
	__s64 ret;         /* bytes the syscall wrote */
	__s32 fd;
	__u32 syscall;     /* KTRAIL_SYS_WRITE ... KTRAIL_SYS_SENDMSG */
	__u32 fd_kind;     /* enum ktrail_ssh_log_fd */
	__u32 len;         /* bytes in data: min(ret, first iovec, KTRAIL_SSH_LOG_MAX) */
	char data[KTRAIL_SSH_LOG_MAX];
};

/* KTRAIL_EV_SSH_PAM */
struct ktrail_ssh_pam {
	struct ktrail_header hdr;
	struct ktrail_sockaddr peer;  /* the process's established TCP connection, if any */
	struct ktrail_sockaddr local;
	__s64 ret;         /* return value; 0 for KTRAIL_PAM_START (an entry probe) */
	__u32 op;          /* enum ktrail_pam_op */
	__u32 _pad0;
	char service[KTRAIL_PAM_SERVICE_LEN]; /* pam_start only */
	char user[KTRAIL_PAM_USER_LEN];       /* pam_start only: the user as typed */
};

/* ktrail_cgroup.op */
enum ktrail_cgroup_op {
	KTRAIL_CGROUP_MKDIR = 1,
};

/* KTRAIL_EV_CGROUP: a cgroup on the cgroup2 (default) hierarchy was created. The agent keeps
 * id -> path from these, so a container that is gone before its events are processed is still
 * identified. Not an output event. */
struct ktrail_cgroup {
	struct ktrail_header hdr;
	__u64 id;          /* kernfs node id: bpf_get_current_cgroup_id() of tasks inside it */
	__u32 op;          /* enum ktrail_cgroup_op */
	__u32 level;       /* depth below the hierarchy root */
	__u32 path_len;    /* bytes used in path, NUL excluded */
	__u32 _pad0;
	char path[KTRAIL_PATH_MAX]; /* relative to the hierarchy root: "/libpod_parent/libpod-<id>" */
};

/* KTRAIL_EV_CAPABLE */
struct ktrail_capable {
	struct ktrail_header hdr;
	__u64 count;       /* checks this record stands for (FIRST/ALWAYS/OVERFLOW: 1) */
	__u64 first_boot_ns; /* first check of the key (SUMMARY: hdr.boot_ns is the last) */
	__u64 exe_ino;     /* executable identity: mm->exe_file inode, 0 for kernel threads */
	__u32 exe_dev;     /* and its superblock's dev_t (kernel encoding) */
	__s32 cap;         /* CAP_* number */
	__s32 ret;         /* 0 granted, -EPERM denied */
	__s32 syscall_nr;  /* syscall the task was in (-1: none), ABI per hdr.flags */
	__u8 audit;        /* enum ktrail_cap_audit */
	__u8 origin;       /* enum ktrail_cap_origin */
	__u8 hook;         /* enum ktrail_cap_hook */
	__u8 noise;        /* 1: known noise (noaudit, or memory accounting on tp_btf) */
	__u32 _pad0;
};

/* Aggregation key: (cgroup or process, executable, capability, result). */
struct ktrail_cap_key {
	__u64 cgroup_id;
	__u64 exe_ino;
	__u32 tgid;        /* 0 when aggregating per cgroup (--cap-key cgroup) */
	__u32 exe_dev;
	__s32 cap;
	__u8 denied;
	__u8 audit;
	__u16 _pad0;
	char comm[KTRAIL_COMM_LEN];
};

/* Aggregation value: the key's first record, and a count the kernel only ever adds to; the
 * agent remembers what it reported and emits the difference every --cap-interval. */
struct ktrail_cap_agg {
	__u64 count;
	__u64 last_boot_ns;
	struct ktrail_capable first;
};

/* Indexes of the per-CPU capability counters (map ktrail_cap_counters). */
enum ktrail_cap_counter {
	KTRAIL_CAPC_CHECKS = 0,    /* cap_capable calls seen (raw) */
	KTRAIL_CAPC_SELECTED = 1,  /* past the policy */
	KTRAIL_CAPC_AGGREGATED = 2, /* counted into an existing key */
	KTRAIL_CAPC_OVERFLOW = 3,  /* emitted alone: aggregation map full */
	KTRAIL_CAPC_MAX = 4,
};

/* A watch list entry: bytes compared as 8-byte words, the last one masked. */
struct ktrail_watch {
	__u64 w[KTRAIL_WATCH_LEN / 8];
	__u32 len;
	__u32 flags;       /* enum ktrail_watch_flags */
};

/*
 * The relative-open prefilter (file.bpf.h): one row per (directory on the way to a watch entry).
 * A relative open is looked at only when its directory (dirfd or cwd) is a row's directory and
 * the path's first 8 bytes match the row's word under its mask, or when the directory or one of
 * its KTRAIL_REL_LEVELS - 1 parents is a watched prefix directory (KTRAIL_REL_INSIDE).
 * Filled by the loader from stat(); .rodata, so never in a record.
 */
#define KTRAIL_REL_MAX 64
#define KTRAIL_REL_LEVELS 4
enum ktrail_rel_flags {
	KTRAIL_REL_INSIDE = 1 << 0, /* ino is a prefix entry's directory: anything below it */
};
struct ktrail_watch_rel {
	__u64 ino;
	__u64 word;  /* the entry's bytes after "dir/" */
	__u64 mask;  /* 0 for INSIDE rows */
	__u32 flags; /* enum ktrail_rel_flags */
	__u32 _pad;
};

/*
 * A watched directory missing at start (an exact entry's parent, a prefix entry's directory):
 * one row for its nearest existing ancestor (file.bpf.h). A successful open whose dentry walk
 * meets that ancestor coming from a child named like the first missing component, at a level
 * where a watched file can be, is matched by its walked path and its path string; other opens
 * never read the string. Filled by the loader from stat(); .rodata, so never in a record.
 */
#define KTRAIL_MISS_MAX KTRAIL_WATCH_MAX
enum ktrail_miss_flags {
	KTRAIL_MISS_AT_LEAST = 1 << 0, /* prefix entry: lvl levels or more below the ancestor */
};
struct ktrail_watch_miss {
	__u64 ino;   /* the nearest existing ancestor */
	__u64 word;  /* first 8 bytes of the missing component below it */
	__u64 mask;
	__u32 len;   /* that component's length */
	__u32 lvl;   /* levels from the opened file up to the ancestor: exact entry exactly this */
	__u32 flags; /* enum ktrail_miss_flags */
	__u32 _pad;
};

/* KTRAIL_EV_FILE. path is variable length: size = offsetof(path) + path_len + 1 (rounded). */
struct ktrail_file {
	struct ktrail_header hdr;
	__s64 ret;         /* syscall return: fd, 0, or -errno */
	__u64 arg_flags;   /* open flags, renameat2/unlinkat/fchownat/fchmodat flags */
	__u32 syscall;     /* enum ktrail_cred_syscall, KTRAIL_SYS_OPEN.. */
	__u32 flags;       /* enum ktrail_file_flags */
	__u32 mode;        /* open: create mode; chmod: new mode */
	__u32 old_mode;    /* i_mode before (chmod/chown; 0 when the file was not reachable) */
	__u32 uid;         /* chown: requested owner ((__u32)-1 = unchanged) */
	__u32 gid;
	__u32 old_uid;     /* owner before */
	__u32 old_gid;
	__u64 ino;         /* inode (0 when unknown) */
	__u32 dev;
	__u16 path_len;
	__u16 new_path_len; /* rename: the new name */
	__u32 watch;       /* index of the matching watch entry */
	__u32 _pad0;
	char path[KTRAIL_PATH_MAX];
	char new_path[KTRAIL_PATH_MAX];
};

#ifndef __KTRAIL_BPF__
#ifdef __cplusplus
static_assert(sizeof(struct ktrail_capable) % 8 == 0, "capable size");
static_assert(sizeof(struct ktrail_cap_key) % 8 == 0, "cap_key size");
static_assert(sizeof(struct ktrail_watch) % 8 == 0, "watch size");
static_assert(sizeof(struct ktrail_file) % 8 == 0, "file size");
static_assert(sizeof(struct ktrail_header) % 8 == 0, "header size");
static_assert(sizeof(struct ktrail_exec) % 8 == 0, "exec size");
static_assert(sizeof(struct ktrail_exec_failed) % 8 == 0, "exec_failed size");
static_assert(sizeof(struct ktrail_exit) % 8 == 0, "exit size");
static_assert(sizeof(struct ktrail_cred) % 8 == 0, "cred size");
static_assert(sizeof(struct ktrail_sockaddr) % 8 == 0, "sockaddr size");
static_assert(sizeof(struct ktrail_ssh_accept) % 8 == 0, "ssh_accept size");
static_assert(sizeof(struct ktrail_ssh_log) % 8 == 0, "ssh_log size");
static_assert(sizeof(struct ktrail_ssh_pam) % 8 == 0, "ssh_pam size");
static_assert(sizeof(struct ktrail_cgroup) % 8 == 0, "cgroup size");
#endif
#endif

#endif /* KTRAIL_ABI_EVENTS_H */
