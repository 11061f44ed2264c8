// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * forkexec: the exec-overhead load generator.
 *
 *   forkexec -t SECONDS [-w WORKERS] TARGET [ARG...]
 *   forkexec -t SECONDS [-w WORKERS] -S
 *
 * Starts WORKERS processes; each one runs fork() + execve(TARGET) + waitpid() back to back
 * until SECONDS have passed, counting the children that exited with status 0 (a failed
 * execve exits 127 and is counted as failed). Prints one JSON line on stdout:
 *
 *   {"workers":[pid,...],"execs":N,"failed":F,"seconds":S,"rate":R,"cpu_us":C,"per_worker":[...]}
 *
 * rate is the sum over workers of execs/elapsed. cpu_us is the user+system CPU time of all the
 * workers and their children (getrusage RUSAGE_CHILDREN): unlike the rate, it barely moves
 * when other processes compete for the CPUs, so it gives a second, steadier view of the cost
 * a tracer puts on the traced tasks. The worker pids let the harness match a
 * tracer's exec events (their parent pid) to this run.
 *
 * -S measures the other side of a syscall tracer's cost: each worker makes getppid() calls
 * back to back instead, and "execs" counts those calls. A tracer hooked on raw
 * sys_enter/sys_exit taxes every one of them; one hooked on sched_process_exec does not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 64

extern char **environ;

struct worker_result {
	uint64_t execs;
	uint64_t failed;
	double seconds;
	pid_t pid;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: forkexec -t SECONDS [-w WORKERS] TARGET [ARG...]\n"
			"       forkexec -t SECONDS [-w WORKERS] -S\n");
	exit(2);
}

static void syscall_worker(double seconds, struct worker_result *r)
{
	double start = now_s(), end = start + seconds, t = start;

	while (t < end) {
		for (int i = 0; i < 1000; i++)
			syscall(SYS_getppid);
		r->execs += 1000;
		t = now_s();
	}
	r->seconds = t - start;
}

static void worker(double seconds, char **argv, struct worker_result *r)
{
	double start = now_s(), end = start + seconds, t = start;

	while (t < end) {
		pid_t c = fork();
		int status;

		if (c < 0) {
			if (errno == EAGAIN || errno == ENOMEM) {
				usleep(1000);
				t = now_s();
				continue;
			}
			perror("fork");
			_exit(1);
		}
		if (c == 0) {
			execve(argv[0], argv, environ);
			_exit(127);
		}
		while (waitpid(c, &status, 0) < 0) {
			if (errno != EINTR) {
				perror("waitpid");
				_exit(1);
			}
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			r->execs++;
		else
			r->failed++;
		t = now_s();
	}
	r->seconds = t - start;
}

int main(int argc, char **argv)
{
	double seconds = 0;
	int workers = 1, opt, i, syscalls = 0;
	struct worker_result *res;
	uint64_t execs = 0, failed = 0;
	double rate = 0, maxsec = 0;
	long long cpu_us;

	while ((opt = getopt(argc, argv, "+t:w:S")) != -1) {
		switch (opt) {
		case 't': seconds = atof(optarg); break;
		case 'w': workers = atoi(optarg); break;
		case 'S': syscalls = 1; break;
		default: usage();
		}
	}
	if (seconds <= 0 || workers < 1 || workers > MAX_WORKERS || (optind >= argc && !syscalls))
		usage();
	if (!syscalls && access(argv[optind], X_OK) != 0) {
		fprintf(stderr, "forkexec: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}

	/* Shared with the workers: each one writes only its own slot. */
	res = mmap(NULL, sizeof(*res) * MAX_WORKERS, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(res, 0, sizeof(*res) * MAX_WORKERS);

	for (i = 0; i < workers; i++) {
		pid_t p = fork();
		if (p < 0) {
			perror("fork");
			return 1;
		}
		if (p == 0) {
			/* Killing forkexec (or the harness that runs it) stops the load too. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(1);
			if (syscalls)
				syscall_worker(seconds, &res[i]);
			else
				worker(seconds, argv + optind, &res[i]);
			_exit(0);
		}
		res[i].pid = p;
	}
	for (i = 0; i < workers; i++) {
		int status;
		if (waitpid(res[i].pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "forkexec: worker %d failed\n", (int)res[i].pid);
			return 1;
		}
	}

	printf("{\"workers\":[");
	for (i = 0; i < workers; i++)
		printf("%s%d", i ? "," : "", (int)res[i].pid);
	printf("],\"per_worker\":[");
	for (i = 0; i < workers; i++) {
		execs += res[i].execs;
		failed += res[i].failed;
		if (res[i].seconds > 0)
			rate += res[i].execs / res[i].seconds;
		if (res[i].seconds > maxsec)
			maxsec = res[i].seconds;
		printf("%s{\"execs\":%llu,\"failed\":%llu,\"seconds\":%.6f}", i ? "," : "",
		       (unsigned long long)res[i].execs, (unsigned long long)res[i].failed,
		       res[i].seconds);
	}
	{
		struct rusage ru;
		getrusage(RUSAGE_CHILDREN, &ru);
		cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
			 ru.ru_stime.tv_usec;
	}
	printf("],\"execs\":%llu,\"failed\":%llu,\"seconds\":%.6f,\"rate\":%.3f,\"cpu_us\":%lld}\n",
	       (unsigned long long)execs, (unsigned long long)failed, maxsec, rate, cpu_us);
	return failed ? 3 : 0;
}
