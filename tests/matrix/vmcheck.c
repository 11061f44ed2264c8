// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktrail-vmcheck: the end-to-end checks the kernel matrix runs INSIDE each VM (and on the host).
 * Static, no libraries: the initramfs holds only busybox, ktrail, ktrail-e2e-helper and this.
 *
 * For each scenario it starts the real `ktrail run` (NDJSON to a file), fires real syscalls
 * through ktrail-e2e-helper (tests/e2e/helper.c, which reports what it did as one JSON line),
 * stops the agent with SIGINT, and matches the events line by line on exact field text:
 *
 *   auto         --hooks auto --buffer auto: exec, failed exec (ENOENT, EACCES), setresuid,
 *                setuid EPERM, setgroups, capset, exit code; the variants ktrail reports
 *                must equal the plan `ktrail probe --json` printed
 *   tracepoint   --hooks tracepoint --buffer perf: the fallback variant and the perf buffer
 *   tp_btf       --hooks tp_btf --buffer ring --btf FILE: the preferred variant, forced, with
 *                the kernel BTF passed as an external file (as BTFHub files are used)
 *   no-btf       --btf of a missing file: probe and run exit 4 and say why
 *   loss-ring    1 MiB ring buffer, agent SIGSTOP'd while N execs run: every exec of the helper's
 *   loss-perf    children is in the stream or counted by a `lost` event (same with perf)
 *   restart-pin  --pin: agent stopped, N execs, next agent resumes the pinned ring buffer: each
 *                exec is delivered by it or counted in its lost events
 *   capable-auto    --events capable --cap-policy all: cap_capable via fexit (no tracepoint
 *                   before 6.14), CAP_SETUID/CAP_SETGID checks of the helper's `cred` reported
 *   capable-kprobe  the same with --cap-hook kprobe
 *
 * Output: lines starting with "KTRAIL-MATRIX " (parsed by scripts/kernel-matrix.sh):
 *   KTRAIL-MATRIX check <scenario>/<check> PASS|FAIL <detail>
 *   KTRAIL-MATRIX variant <scenario> buffer=<...> hooks=<...>
 *   KTRAIL-MATRIX summary pass=N fail=M
 * Exit status: 0 if every check passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *ktrail_bin = "/bin/ktrail";
static const char *helper_bin = "/bin/ktrail-e2e-helper";
static const char *workdir = "/tmp/ktrail-vmcheck";
static int expect_prog_types = 0; /* fentry + LSM programs must load (the VM kernels) */
static int only_loss = -1;        /* -1: all scenarios */
static int only_ia32 = 0;         /* probe and the auto scenario only (the ia32-off boot) */
static const char *expect_ia32;   /* "on" | "off": whether this boot runs ia32 syscalls */
static int loss_execs = 3000;
static const char *btf_file;      /* --btf FILE for kernels without /sys/kernel/btf/vmlinux */
static int have_ringbuf = 1;      /* from `ktrail probe`: false on kernels < 5.8 */
static int have_tp_btf = 1;       /* from `ktrail probe`: false on kernels < 5.5 */
static int passed, failed;

#define PREFIX "KTRAIL-MATRIX "

static void check(const char *scenario, const char *name, int ok, const char *fmt, ...) {
	char detail[512] = "";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	printf(PREFIX "check %s/%s %s %s\n", scenario, name, ok ? "PASS" : "FAIL", detail);
	fflush(stdout);
	if (ok) passed++;
	else failed++;
}

static double now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- files -------------------------------------------------------------------------------- */

static char *slurp(const char *path) {
	FILE *f = fopen(path, "re");
	size_t cap = 4096, len = 0, n;
	char *buf;
	if (!f) return strdup("");
	buf = malloc(cap);
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 4096) buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	if (!buf) exit(121);
	buf[len] = 0;
	return buf;
}

/* Calls fn on every line of text (modifies text temporarily). */
#define FOR_EACH_LINE(text, line)                                                          \
	for (char *line = (text), *nl_ = NULL; line && *line;                               \
	     line = nl_ ? (*nl_ = '\n', nl_ + 1) : NULL)                                     \
		if ((nl_ = strchr(line, '\n')) ? (*nl_ = 0, 1) : 1)

/* ---- JSON text lookups (exact field text; the writer emits no spaces) --------------------- */

/* The number after "key": (first occurrence), or def. */
static long long json_num(const char *s, const char *key, long long def) {
	char pat[128];
	const char *p;
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(s, pat);
	return p ? strtoll(p + strlen(pat), NULL, 10) : def;
}

/* The string after "key": (first occurrence) copied into out; "" if absent. */
static void json_str(const char *s, const char *key, char *out, size_t n) {
	char pat[128];
	const char *p, *e;
	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	out[0] = 0;
	p = strstr(s, pat);
	if (!p) return;
	p += strlen(pat);
	e = strchr(p, '"');
	if (!e) return;
	snprintf(out, n, "%.*s", (int)(e - p), p);
}

static int has_all(const char *line, const char *const *needles) {
	for (; *needles; needles++)
		if (!strstr(line, *needles)) return 0;
	return 1;
}

/* Counts NDJSON lines containing every needle (NULL-terminated); copies the first match. */
static int count_lines(char *ndjson, const char *const *needles, char *first, size_t n) {
	int c = 0;
	if (first) first[0] = 0;
	FOR_EACH_LINE(ndjson, line) {
		if (!has_all(line, needles)) continue;
		if (!c && first) snprintf(first, n, "%s", line);
		c++;
	}
	return c;
}

/* ---- processes ---------------------------------------------------------------------------- */

/* The output files are truncated before fork: a caller polling them must never see the text
 * of a previous run. */
static pid_t spawn(char *const argv[], const char *out, const char *err) {
	int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (o < 0 || e < 0 || in < 0) {
		perror("open");
		exit(121);
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(121);
	}
	if (pid == 0) {
		dup2(in, 0);
		dup2(o, 1);
		dup2(e, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(o);
	close(e);
	close(in);
	return pid;
}

/* Runs the helper with args; its one-line JSON report goes into report. Returns wait status. */
static int helper(char *report, size_t n, const char *a1, const char *a2, const char *a3) {
	char out[256], err[256];
	char *argv[] = {(char *)helper_bin, (char *)a1, (char *)a2, (char *)a3, NULL};
	int status = -1;
	snprintf(out, sizeof(out), "%s/helper.out", workdir);
	snprintf(err, sizeof(err), "%s/helper.err", workdir);
	pid_t pid = spawn(argv, out, err);
	waitpid(pid, &status, 0);
	char *s = slurp(out);
	snprintf(report, n, "%s", s);
	free(s);
	return status;
}

struct agent {
	pid_t pid;
	char out[256], err[256];
};

/* Starts ktrail run with extra args; waits until it reports the active hooks. */
static int agent_start(struct agent *a, const char *scenario, const char *const *extra) {
	char *argv[32];
	int i = 0;
	argv[i++] = (char *)ktrail_bin;
	argv[i++] = "run";
	argv[i++] = "--format";
	argv[i++] = "json";
	argv[i++] = "--drain-ms";
	argv[i++] = "20";
	for (; *extra && i < 28; extra++) argv[i++] = (char *)*extra;
	int has_btf_arg = 0;
	for (int j = 0; j < i; j++) has_btf_arg |= !strcmp(argv[j], "--btf");
	if (btf_file && !has_btf_arg) {
		argv[i++] = "--btf";
		argv[i++] = (char *)btf_file;
	}
	argv[i] = NULL;
	snprintf(a->out, sizeof(a->out), "%s/%s.ndjson", workdir, scenario);
	snprintf(a->err, sizeof(a->err), "%s/%s.err", workdir, scenario);
	double t0 = now_s();
	a->pid = spawn(argv, a->out, a->err);
	for (;;) {
		char *e = slurp(a->err);
		int ready = strstr(e, "tracing via") != NULL;
		free(e);
		if (ready) break;
		int status;
		if (waitpid(a->pid, &status, WNOHANG) == a->pid) {
			char *err = slurp(a->err);
			check(scenario, "agent_start", 0, "ktrail exited (status %d) before tracing: %.300s", status, err);
			/* stderr as notes: its first lines and its last (a verifier log ends with why a
			 * program did not load). */
			int nl = 0, total = 0;
			FOR_EACH_LINE(err, l) total++;
			FOR_EACH_LINE(err, l) {
				if (nl < 4 || nl >= total - 30) printf(PREFIX "note %s stderr: %.400s\n", scenario, l);
				nl++;
			}
			free(err);
			a->pid = 0;
			return -1;
		}
		if (now_s() - t0 > 120) {
			check(scenario, "agent_start", 0, "ktrail not tracing after 120 s");
			kill(a->pid, SIGKILL);
			waitpid(a->pid, NULL, 0);
			a->pid = 0;
			return -1;
		}
		usleep(50000);
	}
	check(scenario, "agent_start", 1, "tracing after %.1f s", now_s() - t0);
	return 0;
}

/* SIGINT, then wait: ktrail drains, reports drops and flushes before exiting 0. */
static char *agent_stop(struct agent *a, const char *scenario) {
	int status = -1;
	usleep(200000); /* past one --drain-ms period for the last records */
	kill(a->pid, SIGINT);
	double t0 = now_s();
	while (waitpid(a->pid, &status, WNOHANG) != a->pid) {
		if (now_s() - t0 > 60) {
			kill(a->pid, SIGKILL);
			waitpid(a->pid, &status, 0);
			break;
		}
		usleep(20000);
	}
	check(scenario, "agent_exit", WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "ktrail exit status %d", status);
	return slurp(a->out);
}

/* "hooks: sched_process_exec=tp_btf, sched_process_exit=tp_btf, ..." from ktrail's stderr. */
static void agent_variants(struct agent *a, char *buffer, size_t bn, char *hooks, size_t hn) {
	char *e = slurp(a->err);
	const char *v = strstr(e, "tracing via ");
	buffer[0] = hooks[0] = 0;
	if (v) {
		v += strlen("tracing via ");
		const char *semi = strchr(v, ';');
		if (semi) snprintf(buffer, bn, "%.*s", (int)(semi - v), v);
		const char *h = strstr(v, "hooks: ");
		if (h) {
			h += strlen("hooks: ");
			const char *end = strchr(h, ';');
			/* The kernel hooks the plan covers; uprobes (", libpam=...") follow them and depend
			 * on the userland (the VMs have no libpam), so they are not part of the check. */
			const char *up = strstr(h, ", libpam=");
			if (up && end && up < end) end = up;
			if (end) snprintf(hooks, hn, "%.*s", (int)(end - h), h);
		}
	}
	free(e);
}

/* ---- scenarios ---------------------------------------------------------------------------- */

static char probe_plan[512];  /* "sched_process_exec=tp_btf, ..." as `run` prints it */
static char probe_buffer[64]; /* "ringbuf" | "perfbuf" */
static char probe_inactive[256]; /* " sys_enter sys_exit": hooks the plan leaves off */

/* Whether this kernel runs an ia32 syscall from a 64-bit process: 0 yes, SIGSEGV when ia32
 * emulation is built in but off at boot (ia32_emulation=0), -1 anything else. */
static int int80_status(void) {
	pid_t pid = fork();
	if (pid == 0) {
		long r;
		__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "r8", "r9", "r10", "r11", "memory", "cc");
		_exit(r == getpid() ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
	return WIFSIGNALED(st) ? WTERMSIG(st) : -1;
}

/* The plan `ktrail probe --json` promises for the default options, as `run` would print it. */
static void run_probe(void) {
	char out[256], err[256];
	char *argv[] = {(char *)ktrail_bin, "probe", "--json", btf_file ? "--btf" : NULL, (char *)btf_file, NULL};
	int status;
	snprintf(out, sizeof(out), "%s/probe.json", workdir);
	snprintf(err, sizeof(err), "%s/probe.err", workdir);
	pid_t pid = spawn(argv, out, err);
	waitpid(pid, &status, 0);
	char *j = slurp(out);
	printf(PREFIX "probe %s%s", j, strchr(j, '\n') ? "" : "\n"); /* one line */
	check("probe", "exit", WIFEXITED(status) && WEXITSTATUS(status) == 0, "ktrail probe exit status %d",
	      status);
	check("probe", "btf", strstr(j, "\"present\":true,\"source\":") != NULL, "BTF present");
	have_ringbuf = strstr(j, "\"ring_buffer\":true") != NULL;
	{
		/* The four core tracepoints, whatever other hooks (cgroup_mkdir, ...) the object lists. */
		const char *tp = strstr(j, "\"tp_btf\":{");
		const char *tpe = tp ? strchr(tp, '}') : NULL;
		const char *core[] = {"\"sched_process_exec\":true", "\"sched_process_exit\":true", "\"sys_enter\":true",
				      "\"sys_exit\":true"};
		have_tp_btf = tpe != NULL;
		for (size_t i = 0; have_tp_btf && i < 4; i++) {
			const char *f = strstr(tp, core[i]);
			have_tp_btf = f && f < tpe;
		}
	}
	printf(PREFIX "features ring_buffer=%d tp_btf=%d\n", have_ringbuf, have_tp_btf);
	/* Without a ring buffer (< 5.8) the plan must be the perf buffer. */
	check("probe", "buffer_plan", have_ringbuf ? strstr(j, "\"plan\":{\"buffer\":\"ring\"") != NULL
						   : strstr(j, "\"plan\":{\"buffer\":\"perf\"") != NULL,
	      "ring buffer %s, plan follows", have_ringbuf ? "present" : "absent");

	/* The LSM list ktrail reports is the kernel's, and bpf's state is read from it. */
	char *lsm = slurp("/sys/kernel/security/lsm");
	lsm[strcspn(lsm, "\n")] = 0;
	char want[600] = "\"list\":[\"", *w = want + strlen(want);
	for (const char *c = lsm; *c && w < want + sizeof(want) - 8; c++) {
		if (*c == ',') {
			memcpy(w, "\",\"", 3);
			w += 3;
		} else {
			*w++ = *c;
		}
	}
	strcpy(w, "\"]");
	int bpf_lsm = strstr(lsm, "bpf") != NULL;
	printf(PREFIX "lsm %s\n", lsm);
	check("probe", "lsm_list", strstr(j, want) && strstr(j, bpf_lsm ? "\"bpf_active\":true" : "\"bpf_active\":false"),
	      "/sys/kernel/security/lsm=%s", lsm);
	if (expect_prog_types) {
		check("probe", "fentry", strstr(j, "\"fentry\":{\"detail\":\"loads and attaches") != NULL,
		      "fentry loads and attaches");
		if (bpf_lsm)
			check("probe", "lsm_programs",
			      strstr(j, "\"lsm_programs\":{\"detail\":\"loads and attaches") != NULL,
			      "LSM program loads and attaches");
	}
	free(lsm);
	{
		/* bpf_rdonly_cast came with 6.2: the watched-file walk uses it from there on. */
		struct utsname u;
		int major = 0, minor = 0;
		uname(&u);
		sscanf(u.release, "%d.%d", &major, &minor);
		int want_cast = major > 6 || (major == 6 && minor >= 2);
		int has_cast = strstr(j, "\"rdonly_cast\":{\"detail\":\"loads\",\"ok\":true}") != NULL;
		check("probe", "rdonly_cast", has_cast == want_cast, "kernel %s: bpf_rdonly_cast %s, expected %s", u.release,
		      has_cast ? "used" : "not used", want_cast ? "used" : "not used");
	}

	/* Rebuild "hook=variant, ..." from the plan's hooks array. */
	probe_plan[0] = 0;
	probe_inactive[0] = 0;
	const char *p = strstr(j, "\"plan\":");
	const char *h = p;
	while (h && (h = strstr(h, "\"hook\":\"")) != NULL) {
		char name[64], variant[64];
		json_str(h, "hook", name, sizeof(name));
		json_str(h, "variant", variant, sizeof(variant));
		/* variant may be null (no string): then json_str finds the next hook's; guard. */
		const char *vn = strstr(h, "\"variant\":");
		const char *next = strstr(h + 8, "\"hook\":\"");
		/* `run` lists the hooks it attached; an inactive one is only in the probe's plan. */
		if (!vn || (next && vn > next) || !strncmp(vn + 10, "null", 4))
			snprintf(probe_inactive + strlen(probe_inactive), sizeof(probe_inactive) - strlen(probe_inactive),
				 " %s", name);
		else
			snprintf(probe_plan + strlen(probe_plan), sizeof(probe_plan) - strlen(probe_plan), "%s%s=%s",
				 probe_plan[0] ? ", " : "", name, variant);
		h += 8;
	}
	if (expect_ia32) {
		/* ia32 on: the raw hooks guard int $0x80 next to the per-syscall tracepoints; off at
		 * boot: the probe sees the fault and plans no raw hook at all. */
		int on = !strcmp(expect_ia32, "on"), st = int80_status();
		check("probe", "ia32_reality", on ? st == 0 : st == SIGSEGV, "int $0x80 from a 64-bit process: %s",
		      st == 0 ? "runs" : st == SIGSEGV ? "SIGSEGV" : "other");
		check("probe", "ia32_probe",
		      strstr(j, on ? "\"ia32_syscalls\":true" : "\"ia32_syscalls\":false") &&
			      strstr(j, on ? "\"ia32_off_at_boot\":false" : "\"ia32_off_at_boot\":true"),
		      "probe reports ia32 %s", expect_ia32);
		int raw = strstr(probe_plan, "sys_enter=") && strstr(probe_plan, "sys_exit=");
		check("probe", "ia32_raw_hooks", on ? raw : !raw && strstr(probe_inactive, " sys_enter") != NULL,
		      "plan %s; inactive:%s", probe_plan, probe_inactive);
	}
	char buf[16];
	json_str(p ? p : "", "buffer", buf, sizeof(buf));
	snprintf(probe_buffer, sizeof(probe_buffer), "%sbuf", buf); /* run prints ringbuf/perfbuf */
	free(j);
}

struct expect_variant {
	const char *buffer; /* "ringbuf", "perfbuf" or NULL = the probe's plan */
	const char *hooks;  /* "tp_btf", "tracepoint" or NULL = the probe's plan */
};

static void check_variants(const char *scenario, struct agent *a, struct expect_variant ev) {
	char buffer[64], hooks[512];
	agent_variants(a, buffer, sizeof(buffer), hooks, sizeof(hooks));
	printf(PREFIX "variant %s buffer=%s hooks=%s\n", scenario, buffer, hooks);
	if (!ev.hooks) {
		check(scenario, "plan_matches_probe", !strcmp(hooks, probe_plan) && !strcmp(buffer, probe_buffer),
		      "run: %s / %s; probe: %s / %s", buffer, hooks, probe_buffer, probe_plan);
		return;
	}
	/* Every kernel hook the agent lists must use the forced variant, and the four core hooks
	 * must be among them (later issues append hooks to the list). */
	int ok = !strcmp(buffer, ev.buffer);
	const char *core[] = {"sched_process_exec", "sched_process_exit", "sys_enter", "sys_exit"};
	for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++) {
		char want[128];
		snprintf(want, sizeof(want), "%s=%s", core[i], ev.hooks);
		ok &= strstr(hooks, want) != NULL;
	}
	for (const char *p = hooks; p && *p;) {
		const char *eq = strchr(p, '=');
		const char *end = strstr(p, ", ");
		if (!eq) break;
		size_t n = end ? (size_t)(end - eq - 1) : strlen(eq + 1);
		/* cap_capable is not chosen by --hooks: its own --cap-hook picks tp_btf/fexit/kprobe
		 * (names that differ from the syscall hooks' tp_btf/tracepoint); the "capable"
		 * scenario checks it. */
		if (strncmp(p, "cap_capable=", 12)) ok &= n == strlen(ev.hooks) && !strncmp(eq + 1, ev.hooks, n);
		p = end ? end + 2 : NULL;
	}
	check(scenario, "variant", ok, "%s / %s", buffer, hooks);
}

/* Exec, failed exec, credentials and exit code, asserted on exact field text. */
static void functional(const char *scenario, const char *const *args, struct expect_variant ev) {
	struct agent a;
	char marker[64], r_exec[4096], r_fail[4096], r_cred[8192], r_exit[2048];
	char pat[3][1100], line[8192];
	if (agent_start(&a, scenario, args)) return;
	check_variants(scenario, &a, ev);
	snprintf(marker, sizeof(marker), "m%d-%s", getpid(), scenario);

	int s_exec = helper(r_exec, sizeof(r_exec), "exec-args", marker, NULL);
	int s_fail = helper(r_fail, sizeof(r_fail), "exec-fail", marker, NULL);
	int s_cred = helper(r_cred, sizeof(r_cred), "cred", marker, NULL);
	int s_exit = helper(r_exit, sizeof(r_exit), "exit", "3", NULL);
	char *ev_text = agent_stop(&a, scenario);
	if (s_exec || s_fail || s_cred || WEXITSTATUS(s_exit) != 3)
		check(scenario, "helper", 0, "helper statuses %d %d %d %d", s_exec, s_fail, s_cred, s_exit);

	/* exec: the forked child's exec, with its pid, argv and the helper as executable. */
	snprintf(pat[0], sizeof(pat[0]), "\"process\":{\"pid\":%lld,", json_num(r_exec, "child_pid", -1));
	snprintf(pat[1], sizeof(pat[1]), "\"args\":[\"ktrail-e2e-helper\",\"noop\",\"%s\",\"sp ace\"", marker);
	snprintf(pat[2], sizeof(pat[2]), "\"executable\":\"%s\"", helper_bin);
	{
		const char *n[] = {"\"action\":\"exec\"", "\"outcome\":\"success\"", pat[0], pat[1], pat[2],
				   "\"invalid_utf8\":true", NULL};
		int c = count_lines(ev_text, n, line, sizeof(line));
		check(scenario, "exec", c == 1, "%d exec event(s) for pid %lld", c, json_num(r_exec, "child_pid", -1));
	}

	/* Failed execs: ENOENT and EACCES with the attempted path. */
	char path[1024];
	long long fail_pid = json_num(r_fail, "pid", -1);
	snprintf(pat[0], sizeof(pat[0]), "\"process\":{\"pid\":%lld,", fail_pid);
	json_str(r_fail, "missing_path", path, sizeof(path));
	snprintf(pat[1], sizeof(pat[1]), "\"attempted_path\":\"%s\"", path);
	{
		const char *n[] = {"\"action\":\"exec\"", "\"outcome\":\"failure\"", "\"code\":\"ENOENT\"", pat[0], pat[1], NULL};
		int c = count_lines(ev_text, n, NULL, 0);
		check(scenario, "exec_failed_enoent", c == 1 && json_num(r_fail, "missing_errno", 0) == ENOENT,
		      "%d ENOENT event(s) for %s", c, path);
	}
	json_str(r_fail, "noexec_path", path, sizeof(path));
	snprintf(pat[1], sizeof(pat[1]), "\"attempted_path\":\"%s\"", path);
	{
		const char *n[] = {"\"action\":\"exec\"", "\"outcome\":\"failure\"", "\"code\":\"EACCES\"", pat[0], pat[1], NULL};
		int c = count_lines(ev_text, n, NULL, 0);
		check(scenario, "exec_failed_eacces", c == 1, "%d EACCES event(s) for %s", c, path);
	}

	/* Credentials: setresuid to nobody succeeds, then setuid(0) is denied with EPERM. */
	long long cred_pid = json_num(r_cred, "pid", -1);
	snprintf(pat[0], sizeof(pat[0]), "\"process\":{\"pid\":%lld,", cred_pid);
	{
		const char *n[] = {"\"action\":\"setresuid\"", "\"outcome\":\"success\"", pat[0],
				   "\"user\":{\"id\":65534", NULL};
		int c = count_lines(ev_text, n, NULL, 0);
		check(scenario, "cred_setresuid", c == 1, "%d setresuid(65534) success event(s) for pid %lld", c, cred_pid);
	}
	{
		const char *n[] = {"\"action\":\"setuid\"", "\"outcome\":\"failure\"", "\"code\":\"EPERM\"", pat[0], NULL};
		int c = count_lines(ev_text, n, NULL, 0);
		check(scenario, "cred_setuid_eperm", c == 1, "%d setuid(0) EPERM event(s) for pid %lld", c, cred_pid);
	}
	{
		const char *n[] = {"\"action\":\"setgroups\"", "\"outcome\":\"success\"", pat[0],
				   "\"groups\":[1234,5678]", NULL};
		int c = count_lines(ev_text, n, NULL, 0);
		check(scenario, "cred_setgroups", c == 1, "%d setgroups(1234,5678) event(s)", c);
	}
	{
		const char *n[] = {"\"action\":\"capset\"", pat[0], NULL};
		int c = count_lines(ev_text, n, NULL, 0);
		check(scenario, "cred_capset", c == 1, "%d capset event(s)", c);
	}

	/* Exit code 3 of the `exit 3` helper. */
	snprintf(pat[0], sizeof(pat[0]), "\"process\":{\"pid\":%lld,", json_num(r_exit, "pid", -1));
	{
		const char *n[] = {"\"action\":\"exit\"", "\"outcome\":\"failure\"", "\"exit_code\":3", pat[0], NULL};
		int c = count_lines(ev_text, n, NULL, 0);
		check(scenario, "exit_code", c == 1, "%d exit event(s) with code 3", c);
	}
	{
		/* Informational: on a busy host other processes can fill the buffer; the helper's own
		 * events are asserted above either way. */
		const char *n[] = {"\"action\":\"lost\"", NULL};
		int c = count_lines(ev_text, n, line, sizeof(line));
		printf(PREFIX "note %s: %d lost event(s) %.200s\n", scenario, c, line);
	}
	free(ev_text);
}

/* Watched files on this kernel's CO-RE layout: an open through a symlink is reported with the
 * real path (matched on the opened file's dentries and inodes), and a path-based chmod carries
 * the mode it replaced (the agent's cache); a watched directory missing at start is caught
 * once created (its nearest existing ancestor's row), its unwatched sibling is not.
 * extra: NULL, or "--hooks" "tracepoint" etc. */
static void files(const char *scenario, const char *const *extra) {
	struct agent a;
	char dir[300], secret[340], link[340], watch[310], line[8192];
	const char *args[16];
	int i = 0, fd;
	snprintf(dir, sizeof(dir), "%s/watched-%s", workdir, scenario);
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	snprintf(link, sizeof(link), "%s/link-%s", workdir, scenario);
	snprintf(watch, sizeof(watch), "%s/", dir);
	mkdir(dir, 0755);
	fd = open(secret, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) close(fd);
	chmod(secret, 0644);
	unlink(link);
	if (symlink(secret, link)) check(scenario, "setup", 0, "symlink: %s", strerror(errno));
	/* Six levels below the watched directory (matched in the kernel, bpf_rdonly_cast walk on
	 * 6.2+), and the watched directory through a symlinked one (resolved by the agent). */
	char deep[400], dlink[340], via_dlink[400];
	snprintf(deep, sizeof(deep), "%s/a", dir);
	mkdir(deep, 0755);
	for (const char *c = "bcde"; *c; c++) {
		size_t l = strlen(deep);
		snprintf(deep + l, sizeof(deep) - l, "/%c", *c);
		mkdir(deep, 0755);
	}
	strncat(deep, "/deep", sizeof(deep) - strlen(deep) - 1);
	fd = open(deep, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) close(fd);
	snprintf(dlink, sizeof(dlink), "%s/dlink-%s", workdir, scenario);
	snprintf(via_dlink, sizeof(via_dlink), "%s/secret", dlink);
	unlink(dlink);
	if (symlink(dir, dlink)) check(scenario, "setup", 0, "symlink: %s", strerror(errno));
	args[i++] = "--chain-state";
	args[i++] = "none";
	args[i++] = "--events";
	args[i++] = "file";
	args[i++] = "--no-default-watch";
	args[i++] = "--watch";
	args[i++] = watch;
	char missing[320], late[360], late_file[380], sibling[360], sibling_file[380];
	snprintf(missing, sizeof(missing), "%s/missing-%s", workdir, scenario);
	snprintf(late, sizeof(late), "%s/w/", missing);
	snprintf(late_file, sizeof(late_file), "%s/w/late", missing);
	snprintf(sibling, sizeof(sibling), "%s/v", missing);
	snprintf(sibling_file, sizeof(sibling_file), "%s/v/late", missing);
	unlink(late_file);
	unlink(sibling_file);
	rmdir(late);
	rmdir(sibling);
	rmdir(missing);
	args[i++] = "--watch";
	args[i++] = late;
	for (; extra && *extra && i < 14; extra++) args[i++] = *extra;
	args[i] = NULL;
	if (agent_start(&a, scenario, args)) return;
	fd = open(link, O_RDONLY);
	if (fd >= 0) close(fd);
	int cm = chmod(secret, 0600);
	int fd_deep = open(deep, O_RDONLY);
	if (fd_deep >= 0) close(fd_deep);
	int cm_link = chmod(via_dlink, 0640);
	mkdir(missing, 0755);
	mkdir(late, 0755);
	mkdir(sibling, 0755);
	int fd_late = open(late_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd_late >= 0) close(fd_late);
	int fd_sibling = open(sibling_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd_sibling >= 0) close(fd_sibling);
	usleep(300000);
	char *ev_text = agent_stop(&a, scenario);
	char pat[2][400];
	snprintf(pat[0], sizeof(pat[0]), "\"path\":\"%s\"", secret);
	const char *n_open[] = {"\"action\":\"open\"", pat[0], "\"resolved\":true", NULL};
	const char *any[] = {"\"category\":[\"file\"]", NULL};
	int all = count_lines(ev_text, any, line, sizeof(line));
	int c = count_lines(ev_text, n_open, NULL, 0);
	check(scenario, "open_via_symlink", fd >= 0 && c == 1, "open %d; %d resolved open event(s) of %s (%d file events; first: %.300s)",
	      fd, c, secret, all, line);
	const char *n_chmod[] = {"\"action\":\"chmod\"", pat[0], "\"old_mode\":\"0644\"", "\"new_mode\":\"0600\"",
				 "\"old_source\":\"agent\"", NULL};
	c = count_lines(ev_text, n_chmod, NULL, 0);
	check(scenario, "chmod_old_mode", cm == 0 && c == 1, "chmod %d; %d chmod event(s) 0644 -> 0600", cm, c);
	char pat_deep[480];
	snprintf(pat_deep, sizeof(pat_deep), "\"path\":\"%s\"", deep);
	const char *n_deep[] = {"\"action\":\"open\"", pat_deep, "\"resolved\":true", NULL};
	c = count_lines(ev_text, n_deep, NULL, 0);
	check(scenario, "open_deep", fd_deep >= 0 && c == 1, "open %d; %d open event(s) of %s", fd_deep, c, deep);
	const char *n_cand[] = {"\"action\":\"chmod\"", pat[0], "\"new_mode\":\"0640\"", "\"resolved_by\":\"agent\"", NULL};
	c = count_lines(ev_text, n_cand, NULL, 0);
	check(scenario, "chmod_via_symlinked_dir", cm_link == 0 && c == 1, "chmod %d; %d agent-resolved chmod event(s) of %s",
	      cm_link, c, secret);
	char pat_late[2][420];
	snprintf(pat_late[0], sizeof(pat_late[0]), "\"path\":\"%s\"", late_file);
	snprintf(pat_late[1], sizeof(pat_late[1]), "\"path\":\"%s\"", sibling_file);
	const char *n_late[] = {"\"action\":\"open\"", pat_late[0], "\"intent\":\"write\"", "\"resolved\":true", NULL};
	const char *n_sibling[] = {pat_late[1], NULL};
	c = count_lines(ev_text, n_late, NULL, 0);
	int c_sibling = count_lines(ev_text, n_sibling, NULL, 0);
	check(scenario, "dir_missing_at_start", fd_late >= 0 && fd_sibling >= 0 && c == 1 && c_sibling == 0,
	      "open %d/%d; %d event(s) of %s, %d of the unwatched %s", fd_late, fd_sibling, c, late_file, c_sibling,
	      sibling_file);
	free(ev_text);
}

/* Capability checks through one cap_capable variant (`--cap-hook`, NULL = auto, which must pick
 * `want` here): the hooks line names it, and the helper's `cred` run (as root: setgroups,
 * setresgid, setresuid check CAP_SETGID/CAP_SETUID; then setuid(0) as nobody is denied) is
 * reported as capable events of the helper's pid, with the hook variant in the event. */
static void capable(const char *scenario, const char *force, const char *want) {
	struct agent a;
	char marker[64], r_cred[8192], pat[3][256], line[8192], buffer[64], hooks[512];
	const char *args[16];
	int i = 0;
	args[i++] = "--chain-state";
	args[i++] = "none";
	args[i++] = "--events";
	args[i++] = "capable";
	args[i++] = "--cap-policy";
	args[i++] = "all";
	args[i++] = "--cap-key";
	args[i++] = "process"; /* the first check of each key carries the helper's own pid */
	args[i++] = "--cap-interval";
	args[i++] = "0.5";
	if (force) {
		args[i++] = "--cap-hook";
		args[i++] = force;
	}
	args[i] = NULL;
	if (agent_start(&a, scenario, args)) return;
	agent_variants(&a, buffer, sizeof(buffer), hooks, sizeof(hooks));
	printf(PREFIX "variant %s buffer=%s hooks=%s\n", scenario, buffer, hooks);
	snprintf(pat[0], sizeof(pat[0]), "cap_capable=%s", want);
	{
		/* A failed attach shows as cap_capable=inactive with ktrail's warning on stderr. */
		char *e = slurp(a.err);
		const char *w = strstr(e, "capability checks are not traced");
		check(scenario, "variant", strstr(hooks, pat[0]) != NULL, "want %s: %s%s%.200s", pat[0], hooks,
		      w ? "; " : "", w ? w : "");
		free(e);
	}
	snprintf(marker, sizeof(marker), "m%d-%s", getpid(), scenario);
	int s_cred = helper(r_cred, sizeof(r_cred), "cred", marker, NULL);
	usleep(600000); /* one --cap-interval: summaries of the helper's repeats, not asserted */
	char *ev_text = agent_stop(&a, scenario);
	if (s_cred) check(scenario, "helper", 0, "helper status %d", s_cred);

	long long pid = json_num(r_cred, "pid", -1);
	snprintf(pat[0], sizeof(pat[0]), "\"process\":{\"pid\":%lld,", pid);
	snprintf(pat[1], sizeof(pat[1]), "\"hook\":\"%s\"", want);
	const struct {
		const char *name, *cap, *outcome;
	} want_ev[] = {
		{"setuid_granted", "CAP_SETUID", "success"}, /* setresuid(65534, ...) as root */
		{"setgid_granted", "CAP_SETGID", "success"}, /* setgroups / setresgid as root */
		{"setuid_denied", "CAP_SETUID", "failure"},  /* setuid(0) as nobody: EPERM */
	};
	for (size_t k = 0; k < sizeof(want_ev) / sizeof(want_ev[0]); k++) {
		char cap[96], outcome[64];
		snprintf(cap, sizeof(cap), "\"capability\":{\"name\":\"%s\"", want_ev[k].cap);
		snprintf(outcome, sizeof(outcome), "\"outcome\":\"%s\"", want_ev[k].outcome);
		const char *n[] = {"\"action\":\"capable\"", outcome, cap, pat[0], pat[1], NULL};
		int c = count_lines(ev_text, n, NULL, 0);
		const char *any[] = {"\"action\":\"capable\"", NULL};
		int all = count_lines(ev_text, any, line, sizeof(line));
		check(scenario, want_ev[k].name, c >= 1, "%d %s %s event(s) via %s for pid %lld (%d capable in all; first: %.300s)",
		      c, want_ev[k].cap, want_ev[k].outcome, want, pid, all, line);
	}
	free(ev_text);
}

static void copy_file(const char *from, const char *to) {
	char buf[65536];
	ssize_t n;
	int in = open(from, O_RDONLY | O_CLOEXEC), out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n) break;
	if (in >= 0) close(in);
	if (out >= 0) close(out);
}

/* Without BTF ktrail must stop with exit code 4 and say why, in probe and in run. */
static void missing_btf(void) {
	char out[256], err[256];
	char *probe[] = {(char *)ktrail_bin, "probe", "--btf", "/nonexistent.btf", NULL};
	char *run[] = {(char *)ktrail_bin, "run", "--btf", "/nonexistent.btf", "--duration", "1", NULL};
	int status;
	snprintf(out, sizeof(out), "%s/nobtf.out", workdir);
	snprintf(err, sizeof(err), "%s/nobtf.err", workdir);
	waitpid(spawn(probe, out, err), &status, 0);
	char *o = slurp(out);
	check("no-btf", "probe_exit4", WIFEXITED(status) && WEXITSTATUS(status) == 4 && strstr(o, "--btf"),
	      "ktrail probe --btf /nonexistent.btf: status %d", status);
	free(o);
	waitpid(spawn(run, out, err), &status, 0);
	char *e = slurp(err);
	check("no-btf", "run_exit4", WIFEXITED(status) && WEXITSTATUS(status) == 4 && strstr(e, "no kernel BTF"),
	      "ktrail run --btf /nonexistent.btf: status %d: %.200s", status, e);
	free(e);
}

static int proc_state(pid_t pid) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	char *s = slurp(path), *r = strrchr(s, ')');
	int st = r && r[1] && r[2] ? r[2] : '?';
	free(s);
	return st;
}

/* A 1 MiB buffer, no early wakeup, agent stopped while the helper execs N children. */
static void loss(const char *scenario, const char *buffer) {
	struct agent a;
	char marker[64], report[1 << 16], n_str[16];
	const char *args[] = {"--buffer", buffer, "--buffer-mb", "1", "--wakeup-bytes", "1073741824",
			      "--events", "exec,exit", NULL};
	if (agent_start(&a, scenario, args)) return;
	kill(a.pid, SIGSTOP);
	double t0 = now_s();
	while (proc_state(a.pid) != 'T' && now_s() - t0 < 10) usleep(1000);
	snprintf(marker, sizeof(marker), "m%d-%s", getpid(), scenario);
	snprintf(n_str, sizeof(n_str), "%d", loss_execs);
	int s = helper(report, sizeof(report), "exec-loop", marker, n_str);
	kill(a.pid, SIGCONT);
	char *ev_text = agent_stop(&a, scenario);
	check(scenario, "helper", s == 0 && json_num(report, "execs", -1) == loss_execs, "%lld of %d execs ran",
	      json_num(report, "execs", -1), loss_execs);

	/* Exec events of this marker, and lost counts per hook. */
	char pat[128];
	long long seen = 0, lost_exec = 0, lost_exit = 0, lost_lines = 0, bad_lost = 0;
	snprintf(pat, sizeof(pat), "\"args\":[\"ktrail-e2e-helper\",\"noop\",\"%s\",", marker);
	FOR_EACH_LINE(ev_text, line) {
		if (strstr(line, "\"action\":\"exec\"") && strstr(line, pat)) seen++;
		if (strstr(line, "\"action\":\"lost\"")) {
			char hook[32], source[32];
			long long c = json_num(line, "count", 0);
			json_str(strstr(line, "\"lost\":{"), "hook", hook, sizeof(hook));
			json_str(strstr(line, "\"lost\":{"), "source", source, sizeof(source));
			lost_lines++;
			if (c <= 0 || strcmp(source, "kernel")) bad_lost++;
			if (!strcmp(hook, "exec")) lost_exec += c;
			if (!strcmp(hook, "exit")) lost_exit += c;
		}
	}
	printf(PREFIX "loss %s execs=%d seen=%lld lost_exec=%lld lost_exit=%lld\n", scenario, loss_execs, seen,
	       lost_exec, lost_exit);
	check(scenario, "lost_reported", lost_lines > 0 && bad_lost == 0 && lost_exec + lost_exit > 0,
	      "%lld lost event(s), exec %lld, exit %lld", lost_lines, lost_exec, lost_exit);
	check(scenario, "nothing_silent", seen + lost_exec >= loss_execs && seen <= loss_execs,
	      "%lld seen + %lld lost >= %d execs", seen, lost_exec, loss_execs);
	free(ev_text);
}

/* --pin: stop the agent, exec with no agent running, start the next one: every exec made in
 * between is delivered by it (from the pinned ring buffer) or counted in its lost events. */
static void restart_pin(const char *scenario) {
	struct agent a;
	char marker[64], report[1 << 16], n_str[16], pin[128];
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/ktrail-vmcheck-%d", getpid());
	const char *args[] = {"--pin", pin, "--buffer", "ring", "--buffer-mb", "1", "--events", "exec,exit", NULL};
	if (agent_start(&a, "restart-pin-1", args)) return;
	char *first = agent_stop(&a, "restart-pin-1");
	free(first);
	snprintf(marker, sizeof(marker), "m%d-%s", getpid(), scenario);
	snprintf(n_str, sizeof(n_str), "%d", loss_execs);
	int s = helper(report, sizeof(report), "exec-loop", marker, n_str);
	if (agent_start(&a, scenario, args)) return;
	char *e = slurp(a.err);
	check(scenario, "resumed", strstr(e, "resumed the pinned programs and ring buffer") != NULL, "%.200s", e);
	free(e);
	char *ev_text = agent_stop(&a, scenario);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", pin);
	if (system(cmd)) check(scenario, "unpin", 0, "%s failed", cmd);
	char pat[128];
	long long seen = 0, lost_exec = 0;
	snprintf(pat, sizeof(pat), "\"args\":[\"ktrail-e2e-helper\",\"noop\",\"%s\",", marker);
	FOR_EACH_LINE(ev_text, line) {
		if (strstr(line, "\"action\":\"exec\"") && strstr(line, pat)) seen++;
		if (strstr(line, "\"action\":\"lost\"") && strstr(line, "\"hook\":\"exec\"")) lost_exec += json_num(line, "count", 0);
	}
	printf(PREFIX "restart %s execs=%d delivered=%lld lost_exec=%lld\n", scenario, loss_execs, seen, lost_exec);
	check(scenario, "helper", s == 0 && json_num(report, "execs", -1) == loss_execs, "%lld of %d execs ran",
	      json_num(report, "execs", -1), loss_execs);
	check(scenario, "backlog_delivered", seen > 0, "%lld execs made with no agent delivered after restart", seen);
	check(scenario, "nothing_silent", seen + lost_exec >= loss_execs && seen <= loss_execs,
	      "%lld delivered + %lld lost >= %d execs", seen, lost_exec, loss_execs);
	free(ev_text);
}

int main(int argc, char **argv) {
	struct utsname u;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ktrail") && i + 1 < argc) ktrail_bin = argv[++i];
		else if (!strcmp(argv[i], "--helper") && i + 1 < argc) helper_bin = argv[++i];
		else if (!strcmp(argv[i], "--workdir") && i + 1 < argc) workdir = argv[++i];
		else if (!strcmp(argv[i], "--loss-execs") && i + 1 < argc) loss_execs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--btf") && i + 1 < argc) btf_file = argv[++i];
		else if (!strcmp(argv[i], "--expect-prog-types")) expect_prog_types = 1;
		else if (!strcmp(argv[i], "--only-loss")) only_loss = 1;
		else if (!strcmp(argv[i], "--only-ia32")) only_ia32 = 1;
		else if (!strcmp(argv[i], "--expect-ia32") && i + 1 < argc) expect_ia32 = argv[++i];
		else {
			fprintf(stderr,
				"usage: ktrail-vmcheck [--ktrail PATH] [--helper PATH] [--workdir DIR] [--btf FILE]\n"
				"                      [--loss-execs N] [--expect-prog-types] [--only-loss]\n"
				"                      [--expect-ia32 on|off] [--only-ia32]\n");
			return 2;
		}
	}
	/* Absolute paths: the checks run in workdir. */
	static char kbuf[4096], hbuf[4096];
	if (realpath(ktrail_bin, kbuf)) ktrail_bin = kbuf;
	if (realpath(helper_bin, hbuf)) helper_bin = hbuf;
	static char bbuf[4096];
	if (btf_file && realpath(btf_file, bbuf)) btf_file = bbuf;
	mkdir(workdir, 0755);
	if (chdir(workdir)) {
		perror(workdir);
		return 2;
	}
	uname(&u);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf(PREFIX "kernel %s\n", u.release);
	double t0 = now_s();

	run_probe();
	if (only_ia32) {
		const char *a_auto[] = {NULL};
		functional("auto", a_auto, (struct expect_variant){NULL, NULL});
		printf(PREFIX "summary pass=%d fail=%d seconds=%.0f\n", passed, failed, now_s() - t0);
		return failed ? 1 : 0;
	}
	missing_btf();
	if (only_loss != 1) {
		const char *a_auto[] = {NULL};
		functional("auto", a_auto, (struct expect_variant){NULL, NULL});
		const char *a_tp[] = {"--hooks", "tracepoint", "--buffer", "perf", NULL};
		functional("tracepoint-perf", a_tp, (struct expect_variant){"perfbuf", "tracepoint"});
		if (have_ringbuf && have_tp_btf) {
			/* An external BTF file, the way BTFHub files are used on kernels without BTF. */
			copy_file(btf_file ? btf_file : "/sys/kernel/btf/vmlinux", "vmlinux.btf");
			const char *a_btf[] = {"--hooks", "tp_btf", "--buffer", "ring", "--btf", "vmlinux.btf", NULL};
			functional("tp_btf-ring", a_btf, (struct expect_variant){"ringbuf", "tp_btf"});
		} else {
			printf(PREFIX "skip tp_btf-ring: ring_buffer=%d tp_btf=%d on this kernel\n", have_ringbuf, have_tp_btf);
		}
		/* cap_capable: the tp_btf tracepoint exists from 6.14 on; the matrix kernels (5.10,
		 * 6.1, 6.12) have none, so auto must pick fexit, and kprobe is forced. Only in the VMs
		 * (--expect-prog-types): the host may lack fentry and kprobes (tests/caps covers it). */
		struct stat tp_st;
		int has_cap_tp = stat("/sys/kernel/tracing/events/capability/cap_capable", &tp_st) == 0 ||
				 stat("/sys/kernel/debug/tracing/events/capability/cap_capable", &tp_st) == 0;
		files("files", NULL);
		const char *a_ftp[] = {"--hooks", "tracepoint", NULL};
		files("files-tracepoint", a_ftp);
		if (expect_prog_types) {
			capable("capable-auto", NULL, has_cap_tp ? "tp_btf" : "fexit");
			capable("capable-kprobe", "kprobe", "kprobe");
		}
	}
	if (have_ringbuf) loss("loss-ring", "ring");
	loss("loss-perf", "perf");
	if (have_ringbuf) restart_pin("restart-pin");
	printf(PREFIX "summary pass=%d fail=%d seconds=%.0f\n", passed, failed, now_s() - t0);
	return failed ? 1 : 0;
}
