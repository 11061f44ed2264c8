// Fires the real syscalls the capability and sensitive-file tests check, one subcommand each,
// and prints its pid so the test can find its events.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static void drop_to(uid_t uid) {
  if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid)) {
    perror("drop");
    exit(2);
  }
}

static int report(const char *what, long r) {
  printf("%d %s %ld %d\n", getpid(), what, r, r < 0 ? errno : 0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *c = argv[1];
  if (!strcmp(c, "settime-as") && argc == 4) {  // UID N: N denied settimeofday (CAP_SYS_TIME)
    drop_to(atoi(argv[2]));
    struct timeval tv;
    gettimeofday(&tv, NULL);
    long r = 0;
    for (int i = 0; i < atoi(argv[3]); i++) r = settimeofday(&tv, NULL);
    return report("settimeofday", r);
  }
  if (!strcmp(c, "nice") && argc == 3) {  // N: N checks of CAP_SYS_NICE (granted as root)
    long r = 0;
    // Only lowering the nice value asks for the capability; going back up does not.
    for (int i = 0; i < atoi(argv[2]); i++) {
      r = setpriority(PRIO_PROCESS, 0, -1);
      if (setpriority(PRIO_PROCESS, 0, 0)) perror("setpriority");
    }
    return report("setpriority", r);
  }
  if (!strcmp(c, "storm") && argc == 3) {  // N fork+exec of /bin/true
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) {
      pid_t p = fork();
      if (p == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
      }
      waitpid(p, NULL, 0);
    }
    return report("storm", n);
  }
  if (!strcmp(c, "read") && argc == 3) {
    char b[64];
    int fd = open(argv[2], O_RDONLY);
    if (fd >= 0) {
      if (read(fd, b, sizeof(b)) < 0) perror("read");
      close(fd);
    }
    return report("open", fd);
  }
  if (!strcmp(c, "read-as") && argc == 4) {
    drop_to(atoi(argv[2]));
    int fd = open(argv[3], O_RDONLY);
    if (fd >= 0) close(fd);
    return report("open", fd);
  }
  if (!strcmp(c, "write") && argc == 3) {
    int fd = open(argv[2], O_WRONLY | O_APPEND);
    if (fd >= 0) {
      if (write(fd, "x\n", 2) < 0) perror("write");
      close(fd);
    }
    return report("open", fd);
  }
  if (!strcmp(c, "create") && argc == 3) {
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) close(fd);
    return report("open", fd);
  }
  if (!strcmp(c, "fchmod") && argc == 4) {
    int fd = open(argv[2], O_RDONLY);
    long r = fchmod(fd, strtol(argv[3], NULL, 8));
    close(fd);
    return report("fchmod", r);
  }
  if (!strcmp(c, "nsread") && argc == 4) {  // DIR NAME: own mount namespace, tmpfs on DIR, read DIR/NAME
    char p[4096];
    if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
        mount("none", argv[2], "tmpfs", 0, NULL)) {
      perror("nsread");
      return 2;
    }
    snprintf(p, sizeof(p), "%s/%s", argv[2], argv[3]);
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    if (fd >= 0) close(fd);
    fd = open(p, O_RDONLY);
    if (fd >= 0) close(fd);
    return report("open", fd);
  }
  if (!strcmp(c, "fchmodat") && argc == 4)
    return report("fchmodat", fchmodat(AT_FDCWD, argv[2], strtol(argv[3], NULL, 8), 0));
  if (!strcmp(c, "fchownat") && argc == 5)
    return report("fchownat", fchownat(AT_FDCWD, argv[2], atoi(argv[3]), atoi(argv[4]), 0));
  if (!strcmp(c, "chmod") && argc == 4) return report("chmod", chmod(argv[2], strtol(argv[3], NULL, 8)));
  if (!strcmp(c, "chown") && argc == 5)
    return report("chown", chown(argv[2], atoi(argv[3]), atoi(argv[4])));
  if (!strcmp(c, "rename") && argc == 4) return report("rename", rename(argv[2], argv[3]));
  if (!strcmp(c, "unlink") && argc == 3) return report("unlink", unlink(argv[2]));
  if (!strcmp(c, "truncate") && argc == 4) return report("truncate", truncate(argv[2], atol(argv[3])));
  if (!strcmp(c, "setxattr") && argc == 3) return report("setxattr", setxattr(argv[2], "user.ktrail", "1", 1, 0));
  if (!strcmp(c, "chmod-as") && argc == 5) {  // UID PATH MODE
    drop_to(atoi(argv[2]));
    return report("chmod", chmod(argv[3], strtol(argv[4], NULL, 8)));
  }
  if (!strcmp(c, "relread") && argc == 4) {  // DIR NAME: chdir, then a relative open
    if (chdir(argv[2])) return 2;
    int fd = open(argv[3], O_RDONLY);
    if (fd >= 0) close(fd);
    return report("open", fd);
  }
  if (!strcmp(c, "atread") && argc == 4) {  // DIR NAME: openat(dirfd, NAME)
    int dfd = open(argv[2], O_RDONLY | O_DIRECTORY);
    int fd = openat(dfd, argv[3], O_RDONLY);
    if (fd >= 0) close(fd);
    close(dfd);
    return report("openat", fd);
  }
  return 2;
}
