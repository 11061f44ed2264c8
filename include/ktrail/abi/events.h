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

enum ktrail_event_type {
	KTRAIL_EV_EXEC = 1,        /* successful execve/execveat (sched_process_exec) */
	KTRAIL_EV_EXEC_FAILED = 2, /* execve/execveat returned an error */
	KTRAIL_EV_EXIT = 3,        /* last thread of a process exited */
	KTRAIL_EV_CRED = 4,        /* setuid family, setgroups, capset: one per call */
	KTRAIL_EV_SSH_ACCEPT = 5,  /* accept()/accept4() >= 0 in an sshd process */
	KTRAIL_EV_SSH_LOG = 6,     /* a privileged sshd wrote a log line (file, syslog, stderr) */
	KTRAIL_EV_SSH_PAM = 7,     /* libpam call by sshd: pam_start args, or a return value */
	KTRAIL_EV_CGROUP = 8,      /* cgroup2 directory created: agent-internal, keeps id -> path */
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

/* KTRAIL_EV_EXEC. args is variable length: size = offsetof(args) + args_len. */
struct ktrail_exec {
	struct ktrail_header hdr;
	__u32 flags;       /* enum ktrail_exec_flags */
	__u32 argc;        /* true argc (bprm) when ARGC_KNOWN */
	__u32 args_len;    /* bytes used in args: NUL-separated strings */
	__u32 cwd_len;     /* bytes used in cwd */
	__u32 filename_len;
	__u32 _pad0;
	char tty[KTRAIL_TTY_LEN]; /* tty->name: "pts3" (the agent writes pts/3), "" without one */
	char filename[KTRAIL_PATH_MAX]; /* bprm->filename as the caller passed it */
	/* Working directory components, leaf first, each NUL-terminated; the agent joins them. */
	char cwd[KTRAIL_PATH_MAX];
	char args[KTRAIL_ARGS_MAX];
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

#ifndef __KTRAIL_BPF__
#ifdef __cplusplus
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
