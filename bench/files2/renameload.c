// A build's temporary-file pattern: mkstemp in DIR, write, rename over DIR/out.final; N times.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  char fin[4096];
  snprintf(fin, sizeof(fin), "%s/out.final", argv[1]);
  for (int i = 0; i < atoi(argv[2]); i++) {
    char t[4096];
    snprintf(t, sizeof(t), "%s/out.XXXXXX", argv[1]);
    int fd = mkstemp(t);
    if (fd < 0) return 1;
    if (write(fd, "x", 1) != 1) return 1;
    close(fd);
    if (rename(t, fin)) return 1;
  }
  return 0;
}
