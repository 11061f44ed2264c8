// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktrail-e2e-helper: fires real syscalls for the end-to-end tests and reports, as one JSON line
 * on stdout, exactly what it did (pids, return values, errnos, credentials), so the test can
 * match ktrail's events field by field.
 *
 *   noop ...                 exit 0 (the exec target; argv is the payload)
 *   exec-args MARKER         fork; the child execs `noop MARKER` with awkward arguments
 *   exec-many MARKER N       fork; the child execs `noop MARKER` plus N 15-character arguments
 *   exec-fail MARKER         execve ENOENT, execve EACCES (mode 0644), execveat ENOENT
 *   cred MARKER              capset, setgroups (20, then 2 groups), setresgid, setresuid (succeed),
 *                            setuid(0) (EPERM)
 *   cred-compat MARKER       through the ia32 entry (int $0x80): setuid16(0xffff) (EINVAL),
 *                            setresgid32(-1, 777, -1), execve of a missing path (ENOENT)
 *   exit CODE                exit with CODE
 *   wait-exit CODE           wait for EOF on stdin, then exit with CODE
 *   exit-signal SIG          kill itself with SIG (no core dump)
 *   exec-loop MARKER N       N sequential vfork+exec of `noop MARKER I`
 *   pidns CODE               fork into a new pid namespace; the child execs `exit CODE` (and
 *                            prints its own report first, as pid 1)
 *
 * The credential and exec calls go through syscall(2) so that exactly one syscall is made per
 * call, with exactly the arguments reported.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

extern char **environ;

static char self_path[PATH_MAX];

static void die(const char *what) {
	fprintf(stderr, "ktrail-e2e-helper: %s: %s\n", what, strerror(errno));
	exit(120);
}

static void resolve_self(void) {
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0) die("readlink /proc/self/exe");
	self_path[n] = 0;
}

/* ---- JSON output (ASCII-only strings are all this helper prints) ---- */

static int first_field = 1;

static void sep(void) {
	if (!first_field) putchar(',');
	first_field = 0;
}

static void put_str(const char *s) {
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f) printf("\\u%04x", c);
		else putchar(c);
	}
	putchar('"');
}

static void kv_str(const char *k, const char *v) { sep(); put_str(k); putchar(':'); put_str(v); }
static void kv_i64(const char *k, long long v) { sep(); put_str(k); printf(":%lld", v); }
static void kv_u64(const char *k, unsigned long long v) { sep(); put_str(k); printf(":%llu", v); }
static void key(const char *k) { sep(); put_str(k); putchar(':'); }

static void begin(const char *cmd) {
	putchar('{');
	first_field = 1;
	kv_str("cmd", cmd);
}

static void end(void) {
	puts("}");
	fflush(stdout);
}

/* "Uid:\tr\te\ts\tfs" from /proc/self/status: reading it makes no traced syscall. */
static void read_ids(const char *which, unsigned ids[4]) {
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	size_t wl = strlen(which);
	ids[0] = ids[1] = ids[2] = ids[3] = 0;
	if (!f) die("open /proc/self/status");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, which, wl) && line[wl] == ':')
			sscanf(line + wl + 1, "%u %u %u %u", &ids[0], &ids[1], &ids[2], &ids[3]);
	fclose(f);
}

static void kv_creds(const char *k) {
	unsigned u[4], g[4];
	read_ids("Uid", u);
	read_ids("Gid", g);
	key(k);
	printf("{\"uid\":%u,\"euid\":%u,\"suid\":%u,\"fsuid\":%u,"
	       "\"gid\":%u,\"egid\":%u,\"sgid\":%u,\"fsgid\":%u}",
	       u[0], u[1], u[2], u[3], g[0], g[1], g[2], g[3]);
}

static unsigned long long read_u64_file(const char *path) {
	FILE *f = fopen(path, "re");
	unsigned long long v = 0;
	if (f) {
		if (fscanf(f, "%llu", &v) != 1) v = 0;
		fclose(f);
	}
	return v;
}

static unsigned long long inode_of(const char *path) {
	struct stat st;
	return stat(path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/* cgroup v2 id = inode of the cgroup's directory on the unified hierarchy; 0 if unknown. */
static unsigned long long cgroup2_id(void) {
	char line[PATH_MAX + 64], mnt[PATH_MAX] = "", cg[PATH_MAX + 64] = "", path[2 * PATH_MAX + 128];
	FILE *f = fopen("/proc/self/mounts", "re");
	if (!f) return 0;
	while (fgets(line, sizeof(line), f)) {
		char dev[256], dir[PATH_MAX], type[64];
		if (sscanf(line, "%255s %4095s %63s", dev, dir, type) == 3 && !strcmp(type, "cgroup2")) {
			snprintf(mnt, sizeof(mnt), "%s", dir);
			break;
		}
	}
	fclose(f);
	f = fopen("/proc/self/cgroup", "re");
	if (!f) return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "0::", 3)) {
			snprintf(cg, sizeof(cg), "%s", line + 3);
			cg[strcspn(cg, "\n")] = 0;
		}
	}
	fclose(f);
	if (!mnt[0] || !cg[0]) return 0;
	snprintf(path, sizeof(path), "%s%s", mnt, strcmp(cg, "/") ? cg : "");
	return inode_of(path);
}

/* What every report starts with: who and where this process is. */
static void report_self(void) {
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd))) die("getcwd");
	kv_i64("pid", getpid());
	kv_i64("ppid", getppid());
	kv_str("exe", self_path);
	kv_str("cwd", cwd);
	kv_u64("loginuid", read_u64_file("/proc/self/loginuid"));
	kv_u64("sessionid", read_u64_file("/proc/self/sessionid"));
	kv_u64("cgroup_id", cgroup2_id());
	kv_u64("mnt_ns", inode_of("/proc/self/ns/mnt"));
	kv_u64("pid_ns", inode_of("/proc/self/ns/pid"));
	kv_creds("creds");
}

/* fork + execve(self, argv); waits; returns the child's pid and wait status. */
static pid_t spawn_self(char **argv, int *status) {
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		syscall(SYS_execve, self_path, argv, environ);
		_exit(127);
	}
	if (waitpid(pid, status, 0) != pid) die("waitpid");
	return pid;
}

static int cmd_exec_args(const char *marker) {
	char *argv[] = {"ktrail-e2e-helper", "noop", (char *)marker, "sp ace", "\xff\xfe-non-utf8",
			"back\\slash", "utf8-\xc3\xa9", "mix\xff\\end", "", NULL};
	int status;
	pid_t child = spawn_self(argv, &status);
	begin("exec-args");
	report_self();
	kv_i64("child_pid", child);
	kv_i64("child_status", status);
	end();
	return 0;
}

static int cmd_exec_many(const char *marker, int n) {
	char **argv = calloc(n + 4, sizeof(char *));
	int status;
	if (!argv) die("calloc");
	argv[0] = "ktrail-e2e-helper";
	argv[1] = "noop";
	argv[2] = (char *)marker;
	for (int i = 0; i < n; i++) {
		argv[3 + i] = malloc(16);
		if (!argv[3 + i]) die("malloc");
		snprintf(argv[3 + i], 16, "f%014d", i); /* 15 characters + NUL = 16 bytes */
	}
	pid_t child = spawn_self(argv, &status);
	begin("exec-many");
	report_self();
	kv_i64("child_pid", child);
	kv_i64("child_status", status);
	kv_i64("argc", n + 3);
	end();
	return 0;
}

static int cmd_exec_fail(const char *marker) {
	char cwd[PATH_MAX], missing[PATH_MAX + 64], noexec[PATH_MAX + 64], at_name[128];
	char *argv[] = {"ktrail-e2e-helper", NULL};
	long r1, r2, r3;
	int e1, e2, e3, fd, dirfd;

	if (!getcwd(cwd, sizeof(cwd))) die("getcwd");
	snprintf(missing, sizeof(missing), "%s/nonexistent-%s", cwd, marker);
	snprintf(noexec, sizeof(noexec), "%s/noexec-%s", cwd, marker);
	snprintf(at_name, sizeof(at_name), "nonexistent-at-%s", marker);

	fd = open(noexec, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) die("create the non-executable file");
	if (write(fd, "#!/bin/sh\nexit 0\n", 17) != 17) die("write");
	if (fchmod(fd, 0644)) die("fchmod"); /* whatever the umask */
	close(fd);
	dirfd = open(cwd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) die("open cwd");

	errno = 0;
	r1 = syscall(SYS_execve, missing, argv, environ);
	e1 = errno;
	errno = 0;
	r2 = syscall(SYS_execve, noexec, argv, environ);
	e2 = errno;
	errno = 0;
	r3 = syscall(SYS_execveat, dirfd, at_name, argv, environ, 0);
	e3 = errno;

	begin("exec-fail");
	report_self();
	kv_str("missing_path", missing);
	kv_i64("missing_ret", r1);
	kv_i64("missing_errno", e1);
	kv_str("noexec_path", noexec);
	kv_i64("noexec_ret", r2);
	kv_i64("noexec_errno", e2);
	kv_str("at_path", at_name);
	kv_i64("at_dirfd", dirfd);
	kv_i64("at_ret", r3);
	kv_i64("at_errno", e3);
	end();
	return 0;
}

static void caps_get(unsigned long long out[3]) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {};
	if (syscall(SYS_capget, &h, d)) die("capget");
	out[0] = d[0].effective | (unsigned long long)d[1].effective << 32;
	out[1] = d[0].permitted | (unsigned long long)d[1].permitted << 32;
	out[2] = d[0].inheritable | (unsigned long long)d[1].inheritable << 32;
}

static void kv_caps(const char *k, const unsigned long long c[3]) {
	key(k);
	printf("{\"effective\":%llu,\"permitted\":%llu,\"inheritable\":%llu}", c[0], c[1], c[2]);
}

#define CALL(name, expr)                                                         \
	do {                                                                     \
		long r_;                                                         \
		int e_;                                                          \
		errno = 0;                                                       \
		r_ = (expr);                                                     \
		e_ = errno;                                                      \
		key(name);                                                       \
		printf("{\"ret\":%ld,\"errno\":%d,", r_, r_ < 0 ? e_ : 0);       \
		first_field = 1;                                                 \
		kv_creds("after");                                               \
		putchar('}');                                                    \
		first_field = 0;                                                 \
	} while (0)

static int cmd_cred(const char *marker) {
	unsigned long long before[3], req[3], after[3];
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {};
	gid_t groups[2] = {1234, 5678};
	gid_t many[20];
	const int cap_sys_boot = 22;
	long capset_ret;
	int capset_errno;

	begin("cred");
	kv_str("marker", marker);
	report_self();

	/* capset: drop CAP_SYS_BOOT from the effective set, keep the rest. */
	caps_get(before);
	req[0] = before[0] & ~(1ull << cap_sys_boot);
	req[1] = before[1];
	req[2] = before[2];
	for (int i = 0; i < 2; i++) {
		d[i].effective = (uint32_t)(req[0] >> (32 * i));
		d[i].permitted = (uint32_t)(req[1] >> (32 * i));
		d[i].inheritable = (uint32_t)(req[2] >> (32 * i));
	}
	errno = 0;
	capset_ret = syscall(SYS_capset, &h, d);
	capset_errno = capset_ret < 0 ? errno : 0;
	caps_get(after);
	key("capset");
	printf("{\"ret\":%ld,\"errno\":%d", capset_ret, capset_errno);
	first_field = 0;
	kv_caps("before", before);
	kv_caps("requested", req);
	kv_caps("after", after);
	putchar('}');

	for (int i = 0; i < 20; i++) many[i] = 1000 + i;
	CALL("setgroups_many", syscall(SYS_setgroups, 20, many));
	CALL("setgroups", syscall(SYS_setgroups, 2, groups));
	CALL("setresgid", syscall(SYS_setresgid, -1, 4321, -1));
	CALL("setresuid", syscall(SYS_setresuid, 65534, 65534, 65534));
	CALL("setuid", syscall(SYS_setuid, 0));
	end();
	return 0;
}

/* A syscall through the ia32 entry from this 64-bit process: the kernel marks it TS_COMPAT and
 * uses the 32-bit table, exactly as for a 32-bit binary. Returns -errno like the kernel. */
static long int80(long nr, long a, long b, long c) {
	long r;
	__asm__ volatile("int $0x80"
			 : "=a"(r)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "r8", "r9", "r10", "r11", "memory", "cc");
	return r;
}

static int cmd_cred_compat(const char *marker) {
	char cwd[PATH_MAX];
	/* Pointers passed through int $0x80 are 32-bit: the path must live below 4 GiB. */
	char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	long r;

	if (low == MAP_FAILED) die("mmap MAP_32BIT");
	if (!getcwd(cwd, sizeof(cwd))) die("getcwd");
	if (snprintf(low, 4096, "%s/nonexistent32-%s", cwd, marker) >= 4096) die("path too long");

	begin("cred-compat");
	report_self();
	kv_str("path", low);
	/* 0xffff is the 16-bit "-1": setuid(-1) is invalid. */
	r = int80(23, 0xffff, 0, 0);
	key("setuid16");
	printf("{\"ret\":%ld,", r);
	first_field = 1;
	kv_creds("after");
	putchar('}');
	first_field = 0;
	r = int80(210, -1, 777, -1);
	key("setresgid32");
	printf("{\"ret\":%ld,", r);
	first_field = 1;
	kv_creds("after");
	putchar('}');
	first_field = 0;
	r = int80(11, (long)(uintptr_t)low, 0, 0);
	kv_i64("execve_ret", r);
	end();
	return 0;
}

static int cmd_exit_signal(int sig) {
	struct rlimit no_core = {0, 0};
	/* Not dumpable: no core dump even when core_pattern is a pipe. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &no_core);
	signal(sig, SIG_DFL);
	begin("exit-signal");
	report_self();
	kv_i64("signal", sig);
	end();
	kill(getpid(), sig);
	for (;;) pause();
	return 0;
}

static int cmd_exec_loop(const char *marker, int n) {
	char idx[32];
	char *argv[] = {"ktrail-e2e-helper", "noop", (char *)marker, idx, NULL};
	volatile int ok = 0;
	pid_t *pids = calloc(n > 0 ? n : 1, sizeof(pid_t));
	if (!pids) die("calloc");
	for (int i = 0; i < n; i++) {
		int status;
		pid_t pid;
		snprintf(idx, sizeof(idx), "%d", i);
		pid = vfork();
		if (pid < 0) die("vfork");
		if (pid == 0) {
			syscall(SYS_execve, self_path, argv, environ);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) != pid) die("waitpid");
		pids[i] = pid;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ok++;
	}
	begin("exec-loop");
	report_self();
	kv_i64("execs", ok);
	key("pids");
	putchar('[');
	for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", pids[i]);
	putchar(']');
	end();
	return 0;
}

static int cmd_pidns(const char *code) {
	char *argv[] = {"ktrail-e2e-helper", "exit", (char *)code, NULL};
	int status;
	pid_t child;
	if (unshare(CLONE_NEWPID)) die("unshare(CLONE_NEWPID)");
	child = spawn_self(argv, &status);
	begin("pidns");
	report_self();
	kv_i64("child_pid", child);
	kv_i64("child_status", status);
	end();
	return 0;
}

static int usage(void) {
	fprintf(stderr,
		"usage: ktrail-e2e-helper noop ... | exec-args MARKER | exec-many MARKER N |\n"
		"       exec-fail MARKER | cred MARKER | cred-compat MARKER | exit CODE |\n"
		"       wait-exit CODE | exit-signal SIG |\n"
		"       exec-loop MARKER N | pidns CODE\n");
	return 2;
}

int main(int argc, char **argv) {
	if (argc < 2) return usage();
	const char *cmd = argv[1];
	if (!strcmp(cmd, "noop")) return 0;
	resolve_self();
	if (!strcmp(cmd, "exec-args") && argc == 3) return cmd_exec_args(argv[2]);
	if (!strcmp(cmd, "exec-many") && argc == 4) return cmd_exec_many(argv[2], atoi(argv[3]));
	if (!strcmp(cmd, "exec-fail") && argc == 3) return cmd_exec_fail(argv[2]);
	if (!strcmp(cmd, "cred") && argc == 3) return cmd_cred(argv[2]);
	if (!strcmp(cmd, "cred-compat") && argc == 3) return cmd_cred_compat(argv[2]);
	if (!strcmp(cmd, "exit") && argc == 3) {
		begin("exit");
		report_self();
		kv_i64("code", atoi(argv[2]));
		end();
		_exit(atoi(argv[2]));
	}
	if (!strcmp(cmd, "wait-exit") && argc == 3) {
		char c;
		while (read(0, &c, 1) > 0) {
		}
		begin("wait-exit");
		report_self();
		kv_i64("code", atoi(argv[2]));
		end();
		_exit(atoi(argv[2]));
	}
	if (!strcmp(cmd, "exit-signal") && argc == 3) return cmd_exit_signal(atoi(argv[2]));
	if (!strcmp(cmd, "pidns") && argc == 3) return cmd_pidns(argv[2]);
	if (!strcmp(cmd, "exec-loop") && argc == 4) return cmd_exec_loop(argv[2], atoi(argv[3]));
	return usage();
}
