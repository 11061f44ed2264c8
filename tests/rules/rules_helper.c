// Fires the real actions the default rule pack must (and must not) alert on, one subcommand
// each, and prints "PID RESULT ERRNO" so the test can find the triggering event.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static void drop_to(uid_t uid) {
  if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid)) {
    perror("drop");
    exit(2);
  }
}

static int report(long r) {
  printf("%d %ld %d\n", getpid(), r, r < 0 ? errno : 0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *c = argv[1];
  // UID: become UID (no root id left), then ask for root: EPERM.
  if (!strcmp(c, "setuid-denied")) {
    drop_to(atoi(argv[2]));
    return report(syscall(SYS_setuid, 0));
  }
  // UID: become UID, then setuid(UID): allowed, and not an escalation (benign twin).
  if (!strcmp(c, "setuid-self")) {
    drop_to(atoi(argv[2]));
    return report(syscall(SYS_setuid, atoi(argv[2])));
  }
  // UID: become UID keeping CAP_SETUID (PR_SET_KEEPCAPS), then setuid(0): a non-root process
  // that becomes root through a capability.
  if (!strcmp(c, "setuid-cap")) {
    uid_t uid = atoi(argv[2]);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) || setresgid(uid, uid, uid) ||
        setresuid(uid, uid, uid)) {
      perror("keepcaps drop");
      return 2;
    }
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {};
    d[0].effective = d[0].permitted = 1u << CAP_SETUID;
    if (syscall(SYS_capset, &h, d)) {
      perror("capset");
      return 2;
    }
    return report(syscall(SYS_setuid, 0));
  }
  // UID: sethostname as UID: a denied CAP_SYS_ADMIN check.
  if (!strcmp(c, "cap-sysadmin")) {
    drop_to(atoi(argv[2]));
    char name[64];
    gethostname(name, sizeof(name));
    return report(sethostname(name, strlen(name)));
  }
  // UID: settimeofday as UID: a denied CAP_SYS_TIME check (not a dangerous capability).
  if (!strcmp(c, "cap-systime")) {
    drop_to(atoi(argv[2]));
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return report(settimeofday(&tv, NULL));
  }
  if (!strcmp(c, "read")) {
    int fd = open(argv[2], O_RDONLY);
    report(fd);
    return fd < 0;
  }
  if (!strcmp(c, "append")) {
    int fd = open(argv[2], O_WRONLY | O_APPEND);
    report(fd);
    if (fd >= 0 && write(fd, "# ktrail rules test\n", 20) != 20) return 1;
    return fd < 0;
  }
  return 2;
}
