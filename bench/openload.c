// Load generator for bench/open_overhead.sh: `openload open SECONDS` opens and closes a mix of
// unwatched paths (3 absolute under /etc and /usr, 1 relative to /etc) in a loop;
// `openload exec SECONDS` runs fork+exec of /bin/true; `openload write SECONDS` writes 64 bytes
// to /dev/null in a loop (what tracing the write family for sshd costs every other process).
// Prints operations per second.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  double secs = atof(argv[2]), end = now() + secs, t0 = now();
  unsigned long ops = 0;
  if (!strcmp(argv[1], "open")) {
    const char *paths[] = {"/etc/hostname", "/usr/lib/os-release", "/etc/ld.so.cache", "hosts"};
    if (chdir("/etc")) return 1;
    while (now() < end) {
      for (int k = 0; k < 256; k++) {
        int fd = open(paths[k & 3], O_RDONLY | O_CLOEXEC);
        if (fd >= 0) close(fd);
      }
      ops += 256;
    }
  } else if (!strcmp(argv[1], "write")) {
    char buf[64] = {0};
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return 1;
    while (now() < end) {
      for (int k = 0; k < 256; k++)
        if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) return 1;
      ops += 256;
    }
  } else {
    while (now() < end) {
      pid_t p = fork();
      if (p == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
      }
      waitpid(p, NULL, 0);
      ops++;
    }
  }
  printf("%.1f\n", ops / (now() - t0));
  return 0;
}
